"""Adapter of rule `summarize`: the tidy table of every eval JSON."""

import argparse
from pathlib import Path

from iftforget.summary import write_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("evals", nargs="+")
    args = parser.parse_args()
    table = write_summary(args.evals, args.out)
    primary = table[table["primary"]]
    columns = ["base_model", "dataset", "seed", "kind", "step", "task", "metric", "value"]
    print(primary.to_string(index=False, columns=columns))


if __name__ == "__main__":
    main()
