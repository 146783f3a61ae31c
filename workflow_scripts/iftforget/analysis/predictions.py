"""Pre-registered predictions checked against a pooled table: each prediction is a list of checks, each check a set
of rows of pooled.csv (tasks x datasets x steps, one quantity at one budget) and what every one of them must show (a
stage, or an interval wholly above 0). A prediction holds when every row of every check does; a missing row fails it.
The rows are those of one IFT recipe: the ift block's ("default"), or the variant the YAML names (`ift_variant`).

    python -m iftforget.analysis.predictions presets/confirmatory-predictions.yaml \
        results/confirmatory/analysis/pooled.csv
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from iftforget.analysis.intervals import above
from iftforget.analysis.tables import with_variant
from iftforget.paths import DEFAULT_VARIANT


@dataclass(frozen=True)
class Outcome:
    prediction: str
    claim: str
    held: bool
    evidence: list[str]


def _rows(pooled: pd.DataFrame, check: dict[str, Any]) -> list[tuple[str, str, int | None, pd.DataFrame]]:
    steps = check.get("steps", "all")
    found = []
    for task in check["tasks"]:
        for dataset in check["datasets"]:
            part = pooled[(pooled["task"] == task) & (pooled["dataset"] == dataset)
                          & (pooled["quantity"] == check["quantity"]) & (pooled["budget"] == check["budget"])]
            wanted = sorted(part["step"].dropna().astype(int).unique()) if steps == "all" else steps
            if not wanted:  # e.g. a transition test that was not run: the prediction cannot hold
                found.append((task, dataset, None, part))
            for step in wanted:
                found.append((task, dataset, step, part[part["step"] == step]))
    return found


def _verdict(row: pd.DataFrame, check: dict[str, Any]) -> tuple[bool, str]:
    if len(row) != 1:
        return False, f"{len(row)} rows"
    row = row.iloc[0]
    interval = f"{row['estimate']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    if "stage" in check:
        return row["stage"] == check["stage"], f"{row['stage']} (residual {interval})"
    if "stage_not" in check:
        return row["stage"] != check["stage_not"], f"{row['stage']} (residual {interval})"
    if check.get("above") == 0:
        return above(row["ci_low"], 0.0), interval
    raise ValueError(f"a check needs stage, stage_not or above: 0, got {sorted(check)}")


def check_predictions(predictions: Sequence[dict[str, Any]], pooled: pd.DataFrame, corpus: str | None = None,
                      ift_variant: str = DEFAULT_VARIANT) -> list[Outcome]:
    """Each prediction's outcome on the pooled rows of the restoration corpus `corpus` (every corpus' when None) and
    of the IFT recipe `ift_variant` (the ift block's unless named; a table without the column is the ift block's)."""
    pooled = with_variant(pooled)
    pooled = pooled[pooled["ift_variant"] == ift_variant]
    if corpus is not None:
        pooled = pooled[pooled["corpus"] == corpus]
    outcomes = []
    for prediction in predictions:
        held, evidence = True, []
        for check in prediction["checks"]:
            for task, dataset, step, row in _rows(pooled, check):
                ok, said = _verdict(row, check)
                held = held and bool(ok)
                evidence.append(f"{'ok  ' if ok else 'FAIL'} {task} {dataset} k={step} {check['quantity']}: {said}")
        outcomes.append(Outcome(str(prediction["id"]), prediction["claim"], held, evidence))
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("predictions", type=Path,
                        help="YAML with the restoration `corpus`, optionally an IFT recipe `ift_variant` (the ift "
                        "block's, default, unless named) and a list `predictions` of {id, claim, checks}")
    parser.add_argument("pooled", type=Path, help="the analysis' pooled.csv")
    args = parser.parse_args()
    spec = yaml.safe_load(args.predictions.read_text())
    for outcome in check_predictions(spec["predictions"], pd.read_csv(args.pooled), spec.get("corpus"),
                                     spec.get("ift_variant", DEFAULT_VARIANT)):
        print(f"{outcome.prediction}. {outcome.claim}: {'held' if outcome.held else 'FAILED'}")
        print("\n".join(f"   {line}" for line in outcome.evidence))


if __name__ == "__main__":
    main()
