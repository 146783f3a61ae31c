"""One (base model, dataset, task) pooled over its units, the (replicate, seed) runs of the grid.

A claim about the stages must hold across training runs, not only across items: the same seeds on another machine
give another trajectory. The pooled estimate of a quantity is its mean over units, and its interval comes from a
two-stage bootstrap: each resample draws units with replacement, then for each drawn unit one of its own item
resamples (independently for a unit drawn twice). Units disagreeing widens the interval; units agreeing leaves the
item noise. Per step, the pooled result also counts the units in each stage, and lists each unit's k*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iftforget.analysis.comparison import ComparisonData
from iftforget.analysis.decision import Decision, decide
from iftforget.analysis.forgetting import STAGES, AnalysisSettings, Draws, comparison_draws


@dataclass
class UnitResult:
    replicate: int
    seed: int
    n_items: int
    decision: Decision


@dataclass
class PooledResult:
    metric: str
    higher_is_better: bool
    steps: list[int]
    units: list[UnitResult]
    decision: Decision
    stage_counts: dict[int, dict[str, int]]
    k_star_agreement: int  # units whose k* lies within one grid step of the median unit's


def pool_draws(unit_draws: list[Draws], settings: AnalysisSettings) -> Draws:
    """The two-stage bootstrap of the mean over units of every quantity all units have."""
    keys = [key for key in unit_draws[0] if all(key in draws for draws in unit_draws)]
    n_units, n_resamples = len(unit_draws), settings.bootstrap_resamples
    # A stream of its own, so that pooling does not change the item resamples of any unit.
    rng = np.random.default_rng([settings.seed, n_units])
    unit_pick = rng.integers(n_units, size=(n_resamples, n_units))
    item_pick = rng.integers(n_resamples, size=(n_resamples, n_units))
    pooled: Draws = {}
    for key in keys:
        points = np.array([draws[key][0] for draws in unit_draws])
        boots = np.stack([draws[key][1] for draws in unit_draws])  # units x item resamples
        pooled[key] = (float(points.mean()), boots[unit_pick, item_pick].mean(axis=1))
    return pooled


def _k_star_index(decision: Decision, steps: list[int]) -> int:
    """A unit's k* as an index into the grid: 0 when the grid starts inside the actual stage (k* <= the first
    step), len(steps) when no step is actual."""
    if decision.starts_in_actual:
        return 0
    return steps.index(int(decision.k_star)) if decision.k_star is not None else len(steps)


def k_star_agreement(decisions: list[Decision], steps: list[int]) -> int:
    """How many units put k* within one grid step of the median unit's k*."""
    indices = np.array([_k_star_index(decision, steps) for decision in decisions])
    median = int(np.median(indices))
    return int((np.abs(indices - median) <= 1).sum())


def analyze_pooled(units: list[tuple[int, int, ComparisonData]], margin: float | None,
                   settings: AnalysisSettings) -> PooledResult:
    """The per-unit decisions and the pooled one of a (base model, dataset, task); `units` are (replicate, seed,
    data) and must share the task, metric, steps and budgets."""
    first = units[0][2]
    for replicate, seed, data in units:
        if data.metric != first.metric or data.steps != first.steps or data.budget != first.budget:
            raise ValueError(f"unit rep{replicate}/seed{seed} of {first.key.task} differs from the others in metric, "
                             "steps or budget; pooled units must be the same grid")
    unit_draws = [comparison_draws(data, settings) for _, _, data in units]
    results = [UnitResult(replicate, seed, len(data.item_ids), decide(draws, data.steps, data.budget, margin, settings))
               for (replicate, seed, data), draws in zip(units, unit_draws, strict=True)]
    pooled = decide(pool_draws(unit_draws, settings), first.steps, first.budget, margin, settings)
    counts = {step: {stage: sum(r.decision.stages[step] == stage for r in results) for stage in STAGES}
              for step in first.steps}
    agreement = k_star_agreement([r.decision for r in results], first.steps) if margin is not None else 0
    return PooledResult(first.metric, first.higher_is_better, list(first.steps), results, pooled, counts, agreement)
