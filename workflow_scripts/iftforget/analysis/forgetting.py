"""The decomposition of one comparison's drop into pattern shift and knowledge loss, with paired bootstrap intervals.

Orientation: every difference is expressed so that a positive value means "worse than before". For accuracy-like
metrics (higher is better) drop(k) = score(B) - score(IFT@k); for bits per byte (lower is better) the sign flips,
drop(k) = bpb(IFT@k) - bpb(B). Scores themselves are reported in the metric's own units.

    drop(k)          = B - IFT@k                 what IFT costs on the task
    recovered(k)     = restored@k - IFT@k        the share restoration brings back: pattern shift
    residual(k)      = C - restored@k            what restoration cannot bring back: knowledge loss
    control_shift    = B - C                     what restoring alone does to the base (so that
                                                 drop = recovered + residual + control_shift exactly)

stage(k) is "actual" when residual(k) is significantly above 0, "pseudo" when drop(k) is but residual(k) is not,
and "none" otherwise. "Significantly above 0" means the lower end of the two-sided percentile interval at
`confidence` is above 0 (a one-sided test at level (1 - confidence) / 2). k* is the first step in the actual
stage; its interval comes from recomputing k* in every bootstrap resample with the same decision rule (see
`first_actual_step`).

Per item (binary metrics only), the path B -> IFT@k -> restored@k is one of eight, e.g. 1->0->1 (pseudo-forgotten)
or 1->0->0 (actually forgotten). For multiple-choice tasks the forgetting rates are also chance-adjusted under the
know-or-guess response model of "Mapping Post-Training Forgetting in Language Models at Scale" (Harmon et al.,
ICLR 2026); see `chance_adjusted_transition`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from iftforget.analysis.bootstrap import Estimate, percentile_interval, resample_counts, weighted_means
from iftforget.analysis.comparison import BASE, CONTROL, ComparisonData, ComparisonKey, Role
from iftforget.settings import from_block

PATHS = ["".join(p) for p in itertools.product("10", repeat=3)]  # "101" = 1 -> 0 -> 1


@dataclass(frozen=True)
class AnalysisSettings:
    """Config block `analysis`: the bootstrap and the decision rule (defaults are the schema's)."""

    bootstrap_resamples: int
    confidence: float
    seed: int

    @classmethod
    def from_config(cls, block: dict[str, Any]) -> AnalysisSettings:
        return from_block(cls, block)


@dataclass
class ComparisonResult:
    """Every measured quantity of one comparison: `rows` of the tidy table, the stages and k*."""

    key: ComparisonKey
    metric: str
    higher_is_better: bool
    binary: bool
    multiple_choice: bool
    n_items: int
    steps: list[int]
    settings: AnalysisSettings
    rows: list[dict[str, Any]]
    stages: dict[int, str]
    k_star: float | None
    k_star_interval: tuple[float | None, float | None]
    k_star_found_share: float
    eval_files: dict[Role, str]


def first_actual_step(residuals: np.ndarray, margins: np.ndarray, steps: Sequence[int]) -> np.ndarray:
    """k* of each row of `residuals` (rows x steps): the first step whose residual exceeds its margin, else inf.

    The margin of step k is estimate - ci_low of residual(k), the distance from the estimate to the lower end of its
    interval. For the original sample "residual > margin" is exactly "ci_low > 0"; applying the same margin to each
    resample's residual repeats the decision as it would have come out on that resample.
    """
    actual = residuals > margins
    first = np.where(actual.any(axis=1), np.argmax(actual, axis=1), -1)
    steps_array = np.asarray(steps, dtype=float)
    return np.where(first >= 0, steps_array[np.maximum(first, 0)], np.inf)


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


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class _Rows:
    """Collects the tidy table's rows of one comparison; every row is built here."""

    def __init__(self, data: ComparisonData, settings: AnalysisSettings) -> None:
        key = data.key
        self.settings = settings
        self.rows: list[dict[str, Any]] = []
        self.common = {
            "base_model": key.base_model, "dataset": key.dataset, "seed": key.seed, "task": key.task,
            "metric": data.metric, "higher_is_better": data.higher_is_better, "n_items": len(data.item_ids),
            "n_resamples": settings.bootstrap_resamples, "confidence": settings.confidence,
        }

    def add(self, step: int | None, quantity: str, point: float, replicates: np.ndarray, stage: str = "") -> Estimate:
        estimate = percentile_interval(point, replicates, self.settings.confidence)
        # A score is not tested against 0; a difference or a share is (is it significantly above 0?).
        significant = None if quantity.startswith("score_") else estimate.significant
        self.append(step, quantity, estimate.estimate, estimate.ci_low, estimate.ci_high, significant, stage)
        return estimate

    def append(self, step, quantity, estimate, ci_low, ci_high, significant, stage) -> None:
        self.rows.append(self.common | {"step": step, "quantity": quantity, "estimate": estimate, "ci_low": ci_low,
                                        "ci_high": ci_high, "significant": significant, "stage": stage})


def analyze_comparison(data: ComparisonData, settings: AnalysisSettings) -> ComparisonResult:
    """Every measured quantity of one comparison with its paired-bootstrap interval, the stages and k*."""
    roles = list(data.values.columns)
    values = data.values.to_numpy(dtype=float)
    counts = resample_counts(values.shape[0], settings.bootstrap_resamples, settings.seed)
    points = dict(zip(roles, weighted_means(values, data.weights), strict=True))
    boots = dict(zip(roles, weighted_means(values, data.weights, counts).T, strict=True))
    sign = 1.0 if data.higher_is_better else -1.0
    rows = _Rows(data, settings)
    stages: dict[int, str] = {}

    def score(role: Role) -> tuple[float, np.ndarray]:
        return points[role], boots[role]

    def difference(first: Role, second: Role) -> tuple[float, np.ndarray]:
        """first - second, oriented so that > 0 is worse."""
        return sign * (points[first] - points[second]), sign * (boots[first] - boots[second])

    rows.add(0, "score_base", *score(BASE))
    rows.add(0, "score_control", *score(CONTROL))
    rows.add(0, "score_ift", *score(BASE))  # IFT@0 is the base model
    rows.add(0, "score_restored", *score(CONTROL))  # restored@0 is the control
    residual_points, residual_boots, residual_margins = [], [], []
    for step in data.steps:
        ift, restored = ("ift", step), ("restored", step)
        drop = percentile_interval(*difference(BASE, ift), settings.confidence)
        residual = percentile_interval(*difference(CONTROL, restored), settings.confidence)
        stage = "actual" if residual.significant else "pseudo" if drop.significant else "none"
        stages[step] = stage
        rows.add(step, "score_ift", *score(ift), stage)
        rows.add(step, "score_restored", *score(restored), stage)
        rows.add(step, "drop", *difference(BASE, ift), stage)
        rows.add(step, "recovered", *difference(restored, ift), stage)
        rows.add(step, "residual", *difference(CONTROL, restored), stage)
        rows.add(step, "control_shift", *difference(BASE, CONTROL), stage)
        residual_points.append(residual.estimate)
        residual_boots.append(difference(CONTROL, restored)[1])
        residual_margins.append(residual.estimate - residual.ci_low)

    binary = data.is_binary
    multiple_choice = binary and data.choices is not None and bool((data.choices >= 2).all())
    if binary:
        _add_item_paths(data, counts, rows, stages, multiple_choice)

    margins = np.asarray(residual_margins)
    k_star_point = first_actual_step(np.asarray([residual_points]), margins, data.steps)[0]
    k_star_boot = first_actual_step(np.column_stack(residual_boots), margins, data.steps)
    tail = (1.0 - settings.confidence) / 2.0
    k_low = np.quantile(k_star_boot, tail, method="lower")
    k_high = np.quantile(k_star_boot, 1.0 - tail, method="higher")
    found = bool(np.isfinite(k_star_point))
    # No k* (no actual stage within the grid) is written as an empty cell.
    rows.append(None, "k_star", _finite_or_none(k_star_point), _finite_or_none(k_low), _finite_or_none(k_high),
                found, "actual" if found else "")
    return ComparisonResult(
        key=data.key,
        metric=data.metric,
        higher_is_better=data.higher_is_better,
        binary=binary,
        multiple_choice=multiple_choice,
        n_items=len(data.item_ids),
        steps=list(data.steps),
        settings=settings,
        rows=rows.rows,
        stages=stages,
        k_star=_finite_or_none(k_star_point),
        k_star_interval=(_finite_or_none(k_low), _finite_or_none(k_high)),
        k_star_found_share=float(np.isfinite(k_star_boot).mean()),
        eval_files=data.eval_files,
    )


def _add_item_paths(data: ComparisonData, counts: np.ndarray, rows: _Rows, stages: dict[int, str],
                    multiple_choice: bool) -> None:
    """Shares of the eight item paths B -> IFT@k -> restored@k, and the (chance-adjusted) forgetting rates."""
    base = data.column(BASE).astype(int)
    ones = np.ones(len(base))
    for step in data.steps:
        ift = data.column(("ift", step)).astype(int)
        restored = data.column(("restored", step)).astype(int)
        path = np.char.add(np.char.add(base.astype(str), ift.astype(str)), restored.astype(str))
        indicators = {f"path_{p[0]}-{p[1]}-{p[2]}": (path == p).astype(float) for p in PATHS}
        # Forgetting as item transitions: B -> IFT@k (everything IFT broke) and B -> restored@k (what stays broken).
        for name, after in (("ift", ift), ("restored", restored)):
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
            rows.add(step, quantity, point_shares[index], boot_shares[:, index], stages[step])
