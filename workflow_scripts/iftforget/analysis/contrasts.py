"""Paired contrasts between the groups of a grid: a base model against the smallest one (model size as an axis), and
an IFT variant against the ift block's recipe on the same base model (IFT recipe as an axis).

Two pooled intervals that overlap do not show that two groups are alike, and two that do not overlap are a weaker
test than the design allows: the groups of one grid are trained on the same worlds (replicates) with the same seeds,
so each replicate gives one paired difference. A contrast is read like a pooled quantity
(`iftforget.analysis.pooled`): per replicate the mean over its seeds in each group, then a t-interval on the
replicates' paired differences (`ReplicateMeans`, n - 1 df, from the per-run estimates of forgetting.csv); the
residual share of the drop is a ratio of means in each group, each linearised around its estimate, so its contrast is
the difference of two such ratios. The intervals of one contrast of one quantity hold simultaneously over the grid's
steps, as the pooled rows' do; different contrasts, probes and quantities are separate families.

Orientation: as in the tables, a positive drop or residual is a loss, so "first higher" on the residual means the
first group keeps more of its drop after restoration.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from iftforget.analysis.intervals import Estimate, ReplicateMeans, Term, above, below, simultaneous_level
from iftforget.paths import DEFAULT_VARIANT

CONTRAST_QUANTITIES = ("drop", "residual", "residual_share")
CONTRAST_COLUMNS = ["kind", "first_base_model", "first_ift_variant", "first_parameters", "second_base_model",
                    "second_ift_variant", "second_parameters", "dataset", "corpus", "task", "metric",
                    "higher_is_better", "step", "budget", "quantity", "first_estimate", "second_estimate", "estimate",
                    "ci_low", "ci_high", "call", "ci_level", "n_pairs", "confidence", "interval_method"]
FIRST_HIGHER, FIRST_LOWER, NOT_SHOWN = "first higher", "first lower", "not shown to differ"


@dataclass(frozen=True)
class Contrast:
    """first - second, on the runs of one dataset, task and restoration corpus."""

    kind: str  # "size" (a base model against the smallest) or "recipe" (an IFT variant against the ift block's)
    first: tuple[str, str]  # (base model, IFT recipe)
    second: tuple[str, str]


def grid_contrasts(units: pd.DataFrame) -> list[Contrast]:
    """The contrasts a grid's per-run table defines: with the ift block's recipe, each base model against the
    smallest (by the tables' parameter count; by the order of the table where a count is missing), and each IFT
    variant against the ift block's recipe on the same base model."""
    default = units[units["ift_variant"] == DEFAULT_VARIANT]
    counts = default.groupby("base_model", sort=False)["parameters"].first()
    models = list(counts.index)
    if len(models) > 1 and counts.notna().all():
        models = list(counts.sort_values(kind="stable").index)
    contrasts = [Contrast("size", (model, DEFAULT_VARIANT), (models[0], DEFAULT_VARIANT)) for model in models[1:]]
    recipes = units[units["ift_variant"] != DEFAULT_VARIANT][["base_model", "ift_variant"]].drop_duplicates()
    contrasts += [Contrast("recipe", (model, variant), (model, DEFAULT_VARIANT))
                  for model, variant in recipes.itertuples(index=False) if model in set(counts.index)]
    return contrasts


def _replicate_points(rows: pd.DataFrame, prefix: str, steps: list[int], budget: int) -> dict[int, dict]:
    """Per replicate, the mean over its seeds of drop(k) and residual(k, budget) at every step, keyed
    (prefix + quantity, step, budget) so that two groups' points can share one mapping."""
    wanted = (((rows["quantity"] == "drop") & (rows["budget"] == 0))
              | ((rows["quantity"] == "residual") & (rows["budget"] == budget)))
    means = rows[wanted & rows["step"].isin(steps)].groupby(["replicate", "quantity", "step", "budget"])[
        "estimate"].mean()
    points: dict[int, dict] = {}
    for (replicate, quantity, step, row_budget), value in means.items():
        points.setdefault(int(replicate), {})[(prefix + quantity, int(step), int(row_budget))] = float(value)
    return points


def _call(estimate: Estimate) -> str:
    if above(estimate.ci_low, 0.0):
        return FIRST_HIGHER
    if below(estimate.ci_high, 0.0):
        return FIRST_LOWER
    return NOT_SHOWN


def contrast_rows(units: pd.DataFrame, contrast: Contrast, dataset: str, task: str, corpus: str,
                  confidence: float) -> list[dict]:
    """The rows of one contrast on one dataset, task and corpus: per grid step and quantity, first - second with its
    interval over the replicates both groups ran (none where fewer than two did)."""
    rows = units[(units["dataset"] == dataset) & (units["task"] == task) & (units["corpus"] == corpus)]
    groups = [rows[(rows["base_model"] == model) & (rows["ift_variant"] == variant)]
              for model, variant in (contrast.first, contrast.second)]
    if any(group.empty for group in groups):
        return []
    # The budget at which the stages are called: that of the detectable-residual rows.
    budget = int(groups[0].loc[groups[0]["quantity"] == "residual_detectable", "budget"].iloc[0])
    steps = sorted(int(step) for step in groups[0].loc[groups[0]["quantity"] == "drop", "step"].unique() if step > 0)
    first, second = (_replicate_points(group, prefix, steps, budget) for group, prefix in zip(groups, ("a:", "b:")))
    paired = sorted(set(first) & set(second))
    if len(paired) < 2:
        return []
    estimator = ReplicateMeans([first[replicate] | second[replicate] for replicate in paired])
    level = simultaneous_level(confidence, len(steps))
    head = groups[0].iloc[0]
    out = []
    for step in steps:
        keys = {prefix: {"drop": (prefix + "drop", step, 0), "residual": (prefix + "residual", step, budget)}
                for prefix in ("a:", "b:")}
        for quantity in CONTRAST_QUANTITIES:
            if quantity == "residual_share":
                terms: list[Term] = [(keys["a:"]["residual"], keys["a:"]["drop"], 1.0),
                                     (keys["b:"]["residual"], keys["b:"]["drop"], -1.0)]
                estimate = estimator.ratios(terms, level)
                sides = [estimator.ratios([terms[0]], level).estimate,
                         -estimator.ratios([terms[1]], level).estimate]
            else:
                estimate = estimator.linear({keys["a:"][quantity]: 1.0, keys["b:"][quantity]: -1.0}, level)
                sides = [float(estimator.values[keys[prefix][quantity]].mean()) for prefix in ("a:", "b:")]
            out.append({
                "kind": contrast.kind, "first_base_model": contrast.first[0], "first_ift_variant": contrast.first[1],
                "first_parameters": groups[0]["parameters"].iloc[0],
                "second_base_model": contrast.second[0], "second_ift_variant": contrast.second[1],
                "second_parameters": groups[1]["parameters"].iloc[0], "dataset": dataset, "corpus": corpus,
                "task": task, "metric": head["metric"], "higher_is_better": head["higher_is_better"], "step": step,
                "budget": 0 if quantity == "drop" else budget, "quantity": quantity, "first_estimate": sides[0],
                "second_estimate": sides[1], "estimate": estimate.estimate, "ci_low": estimate.ci_low,
                "ci_high": estimate.ci_high, "call": _call(estimate), "ci_level": level, "n_pairs": len(paired),
                "confidence": confidence,
                "interval_method": f"paired t-interval on {len(paired)} replicates ({len(paired) - 1} df)",
            })
    return out


def contrast_table(units: pd.DataFrame, corpus: str, confidence: float) -> pd.DataFrame:
    """Every contrast of the grid (`grid_contrasts`) on the restoration corpus `corpus`, per dataset and task."""
    units = units[units["corpus"] == corpus]
    rows = [row for contrast in grid_contrasts(units)
            for dataset in units["dataset"].drop_duplicates() for task in units["task"].drop_duplicates()
            for row in contrast_rows(units, contrast, dataset, task, corpus, confidence)]
    return pd.DataFrame(rows, columns=CONTRAST_COLUMNS)

