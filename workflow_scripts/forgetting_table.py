"""Adapter of rule `forgetting_table`: the tidy table of every comparison, as CSV and as an HTML page."""

import argparse

from iftforget.analysis.tables import write_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="the tidy CSV")
    parser.add_argument("--html", required=True, help="the same table as an HTML page (for the report)")
    parser.add_argument("comparisons", nargs="+", help="comparison JSONs written by rule analyze")
    args = parser.parse_args()
    written = write_table(args.comparisons, args.out, args.html)
    print(f"{len(written)} rows from {len(args.comparisons)} comparisons written to {args.out}")


if __name__ == "__main__":
    main()
