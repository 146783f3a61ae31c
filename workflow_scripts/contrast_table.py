"""Adapter of rule `contrast_table`: the grid's paired contrasts (iftforget.analysis.contrasts), each base model
against the smallest and each IFT variant against the ift block's recipe, from the per-run table."""

import argparse

import pandas as pd

from iftforget.analysis.contrasts import contrast_table
from iftforget.io import atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", required=True, help="the per-run table, forgetting.csv")
    parser.add_argument("--corpus", required=True, help="the main restoration corpus (restore_corpus.name)")
    parser.add_argument("--confidence", required=True, type=float, help="level of the intervals")
    parser.add_argument("--out", required=True, help="the contrast table (CSV)")
    args = parser.parse_args()
    table = contrast_table(pd.read_csv(args.units), args.corpus, args.confidence)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    pairs = table[["kind", "first_base_model", "first_ift_variant", "second_base_model"]].drop_duplicates()
    print(f"{len(table)} rows of {len(pairs)} contrasts -> {args.out}")
    for row in table[(table["step"] == table["step"].max()) & (table["quantity"] == "residual_share")].itertuples():
        print(f"  {row.dataset} {row.task} k={row.step}: residual share {row.first_base_model}/{row.first_ift_variant}"
              f" - {row.second_base_model}/{row.second_ift_variant} = {row.estimate:.3f} "
              f"[{row.ci_low:.3f}, {row.ci_high:.3f}] ({row.call})")


if __name__ == "__main__":
    main()
