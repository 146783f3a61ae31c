"""One (base model, dataset, task) pooled over its units, the (replicate, seed) runs of the grid.

A claim about the stages must hold across training runs, not only across items: the same seeds on another machine
give another trajectory. The pooled estimate of a quantity is its mean over units, and its interval a t-interval on
the units' estimates (`iftforget.analysis.intervals.ReplicateMeans`): the spread of the units holds the spread
between runs and each unit's item noise, and the t quantile keeps the interval valid with few units. A single unit
is read through its items (its item bootstrap). Per step, the pooled result also counts the units in each stage,
each called from its own item bootstrap under the same rule, and lists each unit's k*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iftforget.analysis.comparison import ComparisonData
from iftforget.analysis.decision import Decision, decide
from iftforget.analysis.forgetting import STAGES, AnalysisSettings, Draws, comparison_draws
from iftforget.analysis.intervals import Estimator, ItemBootstrap, ReplicateMeans


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


def pooled_estimator(unit_draws: list[Draws], replicates: list[int]) -> Estimator:
    """The estimator of the units pooled: a t-interval on the replicates' means (the units of one replicate, its
    seeds, share its world's items, so they are averaged first), or, with a single replicate, the item bootstrap of
    its units' mean (the same item resamples in each: the spread between its seeds is then not in the interval)."""
    by_replicate: dict[int, list[Draws]] = {}
    for replicate, draws in zip(replicates, unit_draws, strict=True):
        by_replicate.setdefault(replicate, []).append(draws)
    means = [_mean_draws(group) for group in by_replicate.values()]
    if len(means) == 1:
        return ItemBootstrap(means[0])
    return ReplicateMeans([{key: point for key, (point, _) in draws.items()} for draws in means])


def _mean_draws(group: list[Draws]) -> Draws:
    """The mean over units of every quantity all of them have (point and item resamples)."""
    if len(group) == 1:
        return group[0]
    keys = [key for key in group[0] if all(key in draws for draws in group)]
    mean: Draws = {}
    for key in keys:
        points = [draws[key][0] for draws in group]
        resamples = np.stack([draws[key][1] for draws in group])
        mean[key] = (float(np.mean(points)), resamples.mean(axis=0))
    return mean


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
    results = [UnitResult(replicate, seed, len(data.item_ids),
                          decide(ItemBootstrap(draws), data.steps, data.budget, margin, settings))
               for (replicate, seed, data), draws in zip(units, unit_draws, strict=True)]
    estimator = pooled_estimator(unit_draws, [replicate for replicate, _, _ in units])
    pooled = decide(estimator, first.steps, first.budget, margin, settings)
    counts = {step: {stage: sum(r.decision.stages[step] == stage for r in results) for stage in STAGES}
              for step in first.steps}
    agreement = k_star_agreement([r.decision for r in results], first.steps) if margin is not None else 0
    return PooledResult(first.metric, first.higher_is_better, list(first.steps), results, pooled, counts, agreement)
