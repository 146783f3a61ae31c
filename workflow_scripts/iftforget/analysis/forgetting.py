"""The decomposition of one comparison's drop into pattern shift and knowledge loss, with paired bootstrap intervals.

Orientation: every difference is expressed so that a positive value means "worse than before". For accuracy-like
metrics (higher is better) drop(k) = score(B) - score(IFT@k); for bits per byte (lower is better) the sign flips.
Scores themselves are reported in the metric's own units. With C_r the base restored r steps (the control):

    drop(k)             = B - IFT@k                what IFT costs on the task
    recovered(k, r)     = restored@(k, r) - IFT@k  what restoration brings back: pattern shift
    residual(k, r)      = C_r - restored@(k, r)    what restoration cannot bring back: knowledge loss
    control_shift(r)    = B - C_r                  what restoring alone does to the base (so that
                                                   drop = recovered + residual + control_shift exactly)
    restored_gap(k, r)  = B - restored@(k, r)      how far restored@k stays from the base itself

The stage of step k (at the main budget r) is called against the equivalence margin delta of the task (`call_stage`),
from intervals that hold simultaneously over the grid's steps (`iftforget.analysis.decision`): *pseudo* when the drop
is material (its whole interval above delta) and the whole interval of residual(k) lies below delta (a real drop that
restoration gives back), *actual* when the whole interval of residual(k) lies above delta, *no material drop* when the
drop's interval does not clear delta, *undecided* otherwise.

Per item (binary metrics only), the path B -> IFT@k -> restored@k is one of eight, e.g. 1->0->1 (pseudo-forgotten)
or 1->0->0 (actually forgotten). For multiple-choice tasks the forgetting rates are also chance-adjusted under the
know-or-guess response model of "Mapping Post-Training Forgetting in Language Models at Scale" (Harmon et al.,
ICLR 2026); see `chance_adjusted_transition`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from iftforget.analysis.bootstrap import resample_counts, weighted_means
from iftforget.analysis.comparison import BASE, ComparisonData, control, ift, restored
from iftforget.analysis.intervals import Estimate, Key, above, below
from iftforget.settings import from_block

PATHS = ["".join(p) for p in itertools.product("10", repeat=3)]  # "101" = 1 -> 0 -> 1
NO_MATERIAL_DROP = "no material drop"
STAGES = ("pseudo", NO_MATERIAL_DROP, "undecided", "actual")
BEFORE_GRID = "before the first step"  # the stage label of k* when the grid starts inside the actual stage

Draws = dict[Key, tuple[float, np.ndarray]]  # point estimate and bootstrap draws of every quantity


@dataclass(frozen=True)
class AnalysisSettings:
    """Config block `analysis`: the bootstrap and the decision rule (defaults are the schema's)."""

    bootstrap_resamples: int
    confidence: float
    seed: int
    power: float

    @classmethod
    def from_config(cls, block: dict[str, Any]) -> AnalysisSettings:
        return from_block(cls, block)


def call_stage(drop: Estimate, residual: Estimate, margin: float | None) -> str:
    """The stage of a step from the intervals of its drop and residual and the margin delta (ties with delta are
    neither above nor below it)."""
    if margin is None:
        return ""
    if above(residual.ci_low, margin):
        return "actual"
    if not above(drop.ci_low, margin):
        return NO_MATERIAL_DROP
    if below(residual.ci_high, margin):
        return "pseudo"
    return "undecided"


def chance_adjusted_transition(transition: np.ndarray, stays_wrong: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """Per-item unbiased estimates of a true 1->0 (or 0->1) transition under the know-or-guess model.

    The model of Harmon et al. (2026): on each item a model either knows the answer or guesses uniformly among its
    `choices` options (right with chance g = 1 / choices), independently at the two evaluations. Then
        P(1->0) = x (1 - g) + z g (1 - g)   and   P(0->0) = z (1 - g)^2,
    where x is the share of items known before and not after (true forgetting) and z the share known at neither.
    Solving, x = P(1->0) / (1 - g) - g P(0->0) / (1 - g)^2; the same holds for 0->1 (true backward transfer). The
    per-item version of that identity is returned, so its mean (also over bootstrap resamples) estimates x.
    """
    chance = 1.0 / choices
    return transition / (1.0 - chance) - chance * stays_wrong / (1.0 - chance) ** 2


def comparison_draws(data: ComparisonData, settings: AnalysisSettings) -> Draws:
    """Every score, difference and item-path share of one comparison: its point estimate and its draws in the
    paired bootstrap over items (one resample of items applied to every model)."""
    roles = list(data.values.columns)
    values = data.values.to_numpy(dtype=float)
    counts = resample_counts(values.shape[0], settings.bootstrap_resamples, settings.seed)
    points = dict(zip(roles, weighted_means(values, data.weights), strict=True))
    boots = dict(zip(roles, weighted_means(values, data.weights, counts).T, strict=True))
    sign = 1.0 if data.higher_is_better else -1.0

    def score(role):
        return points[role], boots[role]

    def difference(first, second):
        """first - second, oriented so that > 0 is worse."""
        return sign * (points[first] - points[second]), sign * (boots[first] - boots[second])

    draws: Draws = {("score_base", 0, 0): score(BASE)}
    for budget in data.budgets():
        draws[("score_control", 0, budget)] = score(control(budget))
        draws[("control_shift", 0, budget)] = difference(BASE, control(budget))
    for step in data.steps:
        draws[("score_ift", step, 0)] = score(ift(step))
        draws[("drop", step, 0)] = difference(BASE, ift(step))
        for budget in data.budgets():
            if restored(step, budget) in points:
                draws[("score_restored", step, budget)] = score(restored(step, budget))
                draws[("recovered", step, budget)] = difference(restored(step, budget), ift(step))
                draws[("residual", step, budget)] = difference(control(budget), restored(step, budget))
                # Against the base itself: whether restoration brought the score (for a pattern probe: the
                # pre-training text pattern) all the way back, independently of what restoring did to the base.
                draws[("restored_gap", step, budget)] = difference(BASE, restored(step, budget))
    if data.is_binary:
        draws.update(_item_path_draws(data, counts))
    return draws


def _item_path_draws(data: ComparisonData, counts: np.ndarray) -> Draws:
    """Shares of the eight item paths B -> IFT@k -> restored@k (main budget), and the forgetting rates."""
    base = data.column(BASE).astype(int)
    ones = np.ones(len(base))
    multiple_choice = data.choices is not None and bool((data.choices >= 2).all())
    draws: Draws = {}
    for step in data.steps:
        after_ift = data.column(ift(step)).astype(int)
        after_restore = data.column(restored(step, data.budget)).astype(int)
        path = 4 * base + 2 * after_ift + after_restore  # the three answers as a binary number: "101" is 5
        indicators = {f"path_{p[0]}-{p[1]}-{p[2]}": (path == int(p, 2)).astype(float) for p in PATHS}
        # Forgetting as item transitions: B -> IFT@k (everything IFT broke) and B -> restored@k (what stays broken).
        for name, after in (("ift", after_ift), ("restored", after_restore)):
            forgot = ((base == 1) & (after == 0)).astype(float)
            indicators[f"forgetting_{name}"] = forgot
            if multiple_choice:
                stays_wrong = ((base == 0) & (after == 0)).astype(float)
                indicators[f"forgetting_{name}_chance_adjusted"] = chance_adjusted_transition(
                    forgot, stays_wrong, data.choices
                )
        matrix = np.column_stack(list(indicators.values()))
        point_shares = weighted_means(matrix, ones)
        boot_shares = weighted_means(matrix, ones, counts)
        for index, quantity in enumerate(indicators):
            draws[(quantity, step, data.budget)] = (float(point_shares[index]), boot_shares[:, index])
    return draws
