"""From bootstrap draws to the rows of the tidy table: intervals, the stage of each step, k*, the smallest residual
the data can detect, and whether the residual has stopped shrinking with the restoration budget.

The same decisions serve one comparison (draws over its items) and the pooled result of several replicates (draws
over replicates and items), so both are read alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from iftforget.analysis.bootstrap import Estimate, percentile_interval
from iftforget.analysis.forgetting import BEFORE_GRID, AnalysisSettings, Draws, call_stage, first_actual_step


@dataclass
class Decision:
    """The rows of one comparison (or pooled comparison) and what was decided from them."""

    rows: list[dict[str, Any]]
    stages: dict[int, str]
    k_star: float | None
    k_star_interval: tuple[float | None, float | None]
    k_star_found_share: float
    starts_in_actual: bool
    budget_status: dict[int, str] = field(default_factory=dict)  # per sweep step: stopped | shrinking | undecided


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _row(step, budget, quantity, estimate, ci_low, ci_high, significant, stage) -> dict[str, Any]:
    return {"step": step, "budget": budget, "quantity": quantity, "estimate": estimate, "ci_low": ci_low,
            "ci_high": ci_high, "significant": significant, "stage": stage}


def shrink_status(shrink: Estimate, margin: float | None) -> str:
    """Whether residual(k) has stopped shrinking between the two largest budgets: the whole interval of the change
    lies below delta (stopped: the loss at the largest budget is actual loss, not a budget too small), above it
    (still shrinking: more restoration may bring more back), or neither (undecided)."""
    if margin is None:
        return ""
    if shrink.ci_high < margin:
        return "stopped"
    if shrink.ci_low > margin:
        return "shrinking"
    return "undecided"


def decide(draws: Draws, steps: list[int], budget: int, margin: float | None,
           settings: AnalysisSettings) -> Decision:
    """Rows with intervals for every quantity in `draws`, the stage of every step at `budget`, k* and its interval,
    the detectable residual per step, and the budget sweep's verdict per step."""
    confidence = settings.confidence
    draws = dict(draws)
    for step in steps:
        # The share of the drop that restoration cannot bring back (meaningful where the drop is clearly positive).
        (drop, drop_boot), (residual, residual_boot) = draws[("drop", step, 0)], draws[("residual", step, budget)]
        with np.errstate(divide="ignore", invalid="ignore"):
            draws[("residual_share", step, budget)] = (residual / drop if drop else np.nan, residual_boot / drop_boot)
    estimates = {key: percentile_interval(point, boot, confidence) for key, (point, boot) in draws.items()}
    stages = {step: call_stage(estimates[("drop", step, 0)], estimates[("residual", step, budget)], margin)
              for step in steps}
    rows = []
    for (quantity, step, at_budget), estimate in estimates.items():
        stage = stages.get(step, "") if at_budget in (0, budget) else ""
        significant = None if quantity.startswith("score_") else estimate.significant
        rows.append(_row(step, at_budget, quantity, estimate.estimate, estimate.ci_low, estimate.ci_high,
                         significant, stage))
    for step in steps:
        standard_error = float(np.std(draws[("residual", step, budget)][1], ddof=1))
        rows.append(_row(step, budget, "residual_detectable", settings.detectable(standard_error), None, None, None,
                         stages[step]))

    budget_status = {}
    budgets = sorted({b for (quantity, _, b) in draws if quantity == "residual"})
    for step in steps:
        at_step = [b for b in budgets if ("residual", step, b) in draws]
        if len(at_step) < 2:
            continue
        smaller, larger = at_step[-2], at_step[-1]
        point = draws[("residual", step, smaller)][0] - draws[("residual", step, larger)][0]
        boot = draws[("residual", step, smaller)][1] - draws[("residual", step, larger)][1]
        shrink = percentile_interval(point, boot, confidence)
        budget_status[step] = shrink_status(shrink, margin)
        rows.append(_row(step, larger, "residual_shrink", shrink.estimate, shrink.ci_low, shrink.ci_high,
                         shrink.significant, budget_status[step]))
        # The shrink is exactly what the longer restoration brings back to IFT@k, plus what it costs the control
        # (which forgets under long restoration): a residual that shrinks only because the control got worse is not
        # knowledge coming back.
        parts = {"residual_shrink_restored": ("recovered", step), "residual_shrink_control": ("control_shift", 0)}
        for name, (quantity, at) in parts.items():
            if (quantity, at, smaller) in draws and (quantity, at, larger) in draws:
                before, after = draws[(quantity, at, smaller)], draws[(quantity, at, larger)]
                change = percentile_interval(after[0] - before[0], after[1] - before[1], confidence)
                rows.append(_row(step, larger, name, change.estimate, change.ci_low, change.ci_high,
                                 change.significant, ""))

    if margin is None:
        return Decision(rows, stages, None, (None, None), 0.0, False, budget_status)
    residual = [estimates[("residual", step, budget)] for step in steps]
    offsets = np.array([e.estimate - e.ci_low for e in residual])
    k_point = first_actual_step(np.array([[e.estimate for e in residual]]), offsets, steps, margin)[0]
    k_boot = first_actual_step(np.column_stack([draws[("residual", s, budget)][1] for s in steps]), offsets, steps,
                               margin)
    k_low = _finite_or_none(np.quantile(k_boot, settings.tail, method="lower"))
    k_high = _finite_or_none(np.quantile(k_boot, 1.0 - settings.tail, method="higher"))
    starts_in_actual = stages[steps[0]] == "actual"
    found = bool(np.isfinite(k_point))
    if starts_in_actual:
        # The first step is already actual: the transition lies before the grid, so no step of it is k*.
        rows.append(_row(None, budget, "k_star", None, None, k_point, found, BEFORE_GRID))
        k_star = None
    else:
        rows.append(_row(None, budget, "k_star", _finite_or_none(k_point), k_low, k_high, found,
                         "actual" if found else ""))
        k_star = _finite_or_none(k_point)
    return Decision(rows, stages, k_star, (k_low, k_high), float(np.isfinite(k_boot).mean()), starts_in_actual,
                    budget_status)
