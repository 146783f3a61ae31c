"""The stage calls that differ between two versions of a run's tidy tables (for example the committed tables and
those redrawn by a newer analysis): per (dataset, task, step), the pooled stage and each replicate's stage, printed
as a Markdown table. "no drop" of earlier tables is read as "no material drop". Only the main restoration corpus is
compared (tables with a restoration arm also hold its rows, named in the column corpus; earlier tables have none).

    python benchmarks/compare_stage_calls.py OLD_FOLDER NEW_FOLDER    # each holding pooled.csv and forgetting.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

RENAMED = {"no drop": "no material drop"}


def stage_calls(folder: Path) -> pd.DataFrame:
    """One row per (dataset, task, step, replicate) with its stage and the intervals it was called from (drop, and
    residual at the main budget); replicate -1 is the pooled call."""
    pooled = pd.read_csv(folder / "pooled.csv").assign(replicate=-1)
    units = pd.read_csv(folder / "forgetting.csv")
    table = pd.concat([pooled, units], ignore_index=True)
    if "corpus" in table:  # the main corpus' rows come first
        table = table[table["corpus"] == table["corpus"].iloc[0]]
    keys = ["dataset", "task", "step", "replicate"]
    budget = table.loc[table["quantity"] == "residual_detectable", "budget"].iloc[0]
    residual = table[(table["quantity"] == "residual") & (table["budget"] == budget)].set_index(keys)
    table = table[(table["quantity"] == "drop") & table["stage"].notna()].set_index(keys)
    table = table.join(residual[["ci_low", "ci_high"]].add_suffix("_residual"))
    return table[["stage", "margin", "ci_low", "ci_high", "ci_low_residual", "ci_high_residual"]].reset_index().replace(
        {"stage": RENAMED})


def reason(row) -> str:
    """What the interval(s) behind the new call show."""
    drop = f"drop [{row.ci_low_new:.3f}, {row.ci_high_new:.3f}]"
    residual = f"residual [{row.ci_low_residual_new:.3f}, {row.ci_high_residual_new:.3f}]"
    why = {"no material drop": f"{drop} does not clear delta", "undecided": f"{drop} clears delta, {residual} holds it",
           "actual": f"{residual} above delta", "pseudo": f"{drop} clears delta, {residual} below it"}
    return why.get(row.stage_new, "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    keys = ["dataset", "task", "step", "replicate"]
    merged = stage_calls(args.old).merge(stage_calls(args.new), on=keys, suffixes=("_old", "_new"), how="outer")
    changed = merged[merged["stage_old"] != merged["stage_new"]].sort_values(keys)
    print(f"{len(changed)} of {len(merged)} stage calls changed\n")
    print("| dataset | task | k | replicate | before | now | why (delta = margin) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in changed.itertuples():
        replicate = "pooled" if row.replicate == -1 else int(row.replicate)
        print(f"| {row.dataset} | {row.task} | {int(row.step)} | {replicate} | {row.stage_old} | {row.stage_new} | "
              f"{reason(row)} |")


if __name__ == "__main__":
    main()
