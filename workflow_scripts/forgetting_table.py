"""Adapter of rule `forgetting_table`: the tidy tables (each run, and pooled over runs), as CSV and HTML pages."""

import argparse

from iftforget.analysis.tables import POOLED_COLUMNS, UNIT_COLUMNS, write_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", required=True, nargs="+", help="comparison JSONs written by rule analyze")
    parser.add_argument("--pooled", required=True, nargs="+", help="pooled JSONs written by rule analyze")
    for table in ("units", "pooled"):
        parser.add_argument(f"--{table}-csv", required=True)
        parser.add_argument(f"--{table}-html", required=True)
    args = parser.parse_args()
    units = write_table(args.units, UNIT_COLUMNS, args.units_csv, args.units_html)
    pooled = write_table(args.pooled, POOLED_COLUMNS, args.pooled_csv, args.pooled_html)
    print(f"{len(units)} rows of {len(args.units)} comparisons -> {args.units_csv}; "
          f"{len(pooled)} pooled rows -> {args.pooled_csv}")


if __name__ == "__main__":
    main()
