"""From an estimator to the rows of the tidy table: intervals, the stage of each step, where the residual crosses
delta, the transition test, the smallest residual the data can detect, and whether the residual has stopped
shrinking with the restoration budget.

The same decisions serve one run (`ItemBootstrap`: its items) and several runs pooled (`ReplicateMeans`: the runs'
means), so both are read alike. Every interval of a quantity at a grid step holds simultaneously over the grid's m
steps (each at level 1 - (1 - confidence) / m, Bonferroni), so that the stages of all steps, and where the residual
crosses delta, are called from intervals that hold together; quantities of the base and the control (step 0) and the
transition test are single intervals at the configured confidence. The row's `ci_level` says which level it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iftforget.analysis.forgetting import BEFORE_GRID, AnalysisSettings, call_stage
from iftforget.analysis.intervals import Estimate, Estimator, Key, above, below, simultaneous_level

TRANSITION_SHOWN, TRANSITION_NOT_SHOWN = "transition", "no transition shown"


@dataclass
class Decision:
    """The rows of one run (or of the runs pooled) and what was decided from them."""

    rows: list[dict[str, Any]]
    stages: dict[int, str]
    k_star: int | None  # the first step called actual (None: none, or the grid starts inside the actual stage)
    crossing: tuple[int | None, int | None]  # shown below delta at the first step (0: the base), above by the second
    starts_in_actual: bool
    transition: str  # TRANSITION_SHOWN, TRANSITION_NOT_SHOWN, or "" where the test has no two material steps
    step_level: float  # the level of each interval at a grid step
    method: str
    budget_status: dict[int, str] = field(default_factory=dict)  # per sweep step: stopped | shrinking | undecided


def _row(step, budget, quantity, estimate: Estimate | None, significant, stage, level, value=None) -> dict[str, Any]:
    low, high = (estimate.ci_low, estimate.ci_high) if estimate is not None else (None, None)
    point = estimate.estimate if estimate is not None else value
    return {"step": step, "budget": budget, "quantity": quantity, "estimate": point, "ci_low": low, "ci_high": high,
            "significant": significant, "stage": stage, "ci_level": level}


def shrink_status(shrink: Estimate, margin: float | None) -> str:
    """Whether residual(k) has stopped shrinking between the two largest budgets: the whole interval of the change
    lies below delta (stopped: the loss at the largest budget is actual loss, not a budget too small), above it
    (still shrinking: more restoration may bring more back), or neither (undecided)."""
    if margin is None:
        return ""
    if below(shrink.ci_high, margin):
        return "stopped"
    if above(shrink.ci_low, margin):
        return "shrinking"
    return "undecided"


def crossing_steps(residuals: dict[int, Estimate], margin: float) -> tuple[int | None, int | None]:
    """Where residual(k) crosses delta, from intervals that hold together over the steps: after the last step whose
    residual lies wholly below delta (0, the base, whose residual is 0 by definition, when none does) and at or
    before the first step whose residual lies wholly above it (None: no step within the grid)."""
    steps = sorted(residuals)
    first_above = next((step for step in steps if above(residuals[step].ci_low, margin)), None)
    before = steps if first_above is None else steps[: steps.index(first_above)]
    shown_below = [step for step in before if below(residuals[step].ci_high, margin)]
    return (shown_below[-1] if shown_below else 0), first_above


def decide(estimator: Estimator, steps: list[int], budget: int, margin: float | None,
           settings: AnalysisSettings) -> Decision:
    """Rows with intervals for every quantity of `estimator`, the stage of every step at `budget`, k* and where the
    residual crosses delta, the transition test, the detectable residual per step, and the budget sweep's verdict."""
    step_level = simultaneous_level(settings.confidence, len(steps))

    def level(step: int) -> float:
        return step_level if step in steps else settings.confidence

    def residual_key(step: int, at: int = budget) -> Key:
        return ("residual", step, at)

    estimates = {key: estimator.linear({key: 1.0}, level(key[1])) for key in estimator.keys()}
    for step in steps:
        # The share of the drop that restoration cannot bring back (meaningful where the drop is material).
        estimates[("residual_share", step, budget)] = estimator.ratios(
            [(residual_key(step), ("drop", step, 0), 1.0)], step_level)
    stages = {step: call_stage(estimates[("drop", step, 0)], estimates[residual_key(step)], margin)
              for step in steps}
    rows = []
    for (quantity, step, at_budget), estimate in estimates.items():
        stage = stages.get(step, "") if at_budget in (0, budget) else ""
        significant = None if quantity.startswith("score_") else estimate.significant
        rows.append(_row(step, at_budget, quantity, estimate, significant, stage, level(step)))
    for step in steps:
        # The smallest residual a one-sided test at the interval's level detects with the configured power.
        quantiles = estimator.quantile(1.0 - (1.0 - step_level) / 2.0) + estimator.quantile(settings.power)
        detectable = quantiles * estimator.standard_error(residual_key(step))
        rows.append(_row(step, budget, "residual_detectable", None, None, stages[step], step_level, detectable))

    budget_status = {}
    budgets = sorted({b for (quantity, _, b) in estimates if quantity == "residual"})
    for step in steps:
        at_step = [b for b in budgets if residual_key(step, b) in estimates]
        if len(at_step) < 2:
            continue
        smaller, larger = at_step[-2], at_step[-1]
        shrink = estimator.linear({residual_key(step, smaller): 1.0, residual_key(step, larger): -1.0}, step_level)
        budget_status[step] = shrink_status(shrink, margin)
        rows.append(_row(step, larger, "residual_shrink", shrink, shrink.significant, budget_status[step], step_level))
        # The shrink is exactly what the longer restoration brings back to IFT@k, plus what it costs the control
        # (which forgets under long restoration): a residual that shrinks only because the control got worse is not
        # knowledge coming back.
        parts = {"residual_shrink_restored": ("recovered", step), "residual_shrink_control": ("control_shift", 0)}
        for name, (quantity, at) in parts.items():
            if (quantity, at, smaller) in estimates and (quantity, at, larger) in estimates:
                change = estimator.linear({(quantity, at, larger): 1.0, (quantity, at, smaller): -1.0}, step_level)
                rows.append(_row(step, larger, name, change, change.significant, "", step_level))

    if margin is None:
        return Decision(rows, stages, None, (None, None), False, "", step_level, estimator.method, budget_status)
    low, high = crossing_steps({step: estimates[residual_key(step)] for step in steps}, margin)
    starts_in_actual = high == steps[0]
    # The grid may start inside the actual stage: then no step of it is k*, and the crossing lies before the grid.
    k_star = None if starts_in_actual else high
    rows.append(_row(None, budget, "k_star", None, high is not None, BEFORE_GRID if starts_in_actual else
                     ("actual" if high is not None else ""), step_level, k_star))
    rows.append(_row(None, budget, "crossing", Estimate(float("nan"), low, high), None, "", step_level))

    transition = ""
    material = [step for step in steps if above(estimates[("drop", step, 0)].ci_low, margin)]
    last = steps[-1]
    if material and material[0] != last and last in material:
        # One mechanism at every step keeps residual / drop constant; a change of mechanism raises it.
        first = material[0]
        change = estimator.ratios([(residual_key(last), ("drop", last, 0), 1.0),
                                   (residual_key(first), ("drop", first, 0), -1.0)], settings.confidence)
        transition = TRANSITION_SHOWN if change.significant else TRANSITION_NOT_SHOWN
        rows.append(_row(first, budget, "share_change", change, change.significant, transition, settings.confidence))
    return Decision(rows, stages, k_star, (low, high), starts_in_actual, transition, step_level, estimator.method,
                    budget_status)
