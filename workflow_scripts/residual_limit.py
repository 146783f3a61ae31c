"""Adapter of rule `residual_limit`: the residual's limit under restoration (iftforget.analysis.limit), fitted on the
rows of every run (the comparison JSONs that forgetting.csv tabulates), as a CSV and one figure per (base model,
dataset)."""

import argparse

from iftforget.analysis.limit import limit_table
from iftforget.analysis.tables import UNIT_COLUMNS, tidy_table
from iftforget.figures.limit import plot_limit
from iftforget.io import atomic_path, json_argument
from iftforget.paths import DEFAULT_VARIANT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", required=True, nargs="+", help="comparison JSONs written by rule analyze")
    parser.add_argument("--confidence", required=True, type=float, help="level of the pooled intervals")
    parser.add_argument("--figures", required=True, type=json_argument,
                        help="JSON list of {base_model, dataset, corpus, cases: [[task, step]...], paths} "
                        "(and ift_variant, for an IFT variant's figure); - for stdin")
    parser.add_argument("--out", required=True, help="the limit table (CSV)")
    args = parser.parse_args()

    units = tidy_table(args.units, UNIT_COLUMNS)
    limits = limit_table(units, args.confidence)
    with atomic_path(args.out) as tmp:
        limits.to_csv(tmp, index=False)
    for figure in args.figures:
        plot_limit(units, limits, figure["base_model"], figure["dataset"], figure["corpus"],
                   [tuple(c) for c in figure["cases"]], figure["paths"], figure.get("ift_variant", DEFAULT_VARIANT))
    print(f"{int(limits['replicate'].isna().sum())} pooled limits -> {args.out}; {len(args.figures)} figures")


if __name__ == "__main__":
    main()
