"""Constructed studies with a known truth, to check that pooled intervals cover it as often as they say.

A study is `n_replicates` runs; each run has its own items (a world sample) and its own trajectory. Run i's expected
drop and residual at step k are drop[k] + drop_spread x u_i and residual[k] + residual_spread x v_i (u_i, v_i
standard normal, shared by the run's steps: a run that forgets more does so at every step), clipped to what its base
can lose. Its items are then drawn so that these are exactly the expected values: an item the base knows
(probability base_accuracy + base_spread x w_i) is lost to restoration of the base with probability c, truly lost
at step k with probability t_k, and its pattern lost with probability s_k, with
    E[drop_k] = a (1 - (1 - t_k)(1 - s_k)) and E[residual_k] = a (1 - c) t_k.
The truth a pooled interval targets is the mean over runs of their expected values, computed from many draws of
the run parameters (`true_means`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from iftforget.analysis.comparison import BASE, ComparisonData, ComparisonKey, control, ift, restored
from iftforget.analysis.intervals import Estimate, Key

BUDGET = 50


@dataclass(frozen=True)
class StudyDesign:
    """The truth and the noise of a constructed study. The defaults follow the committed study's completion probe
    on the QA mix: base accuracy 0.89 (spread 0.07 between replicates), drops 0.17-0.61 (spread about 0.1),
    residuals 0.03-0.39 (spread 0.02-0.05), 396 items per replicate."""

    steps: tuple[int, ...] = (8, 16, 32, 64, 128, 256)
    drop: tuple[float, ...] = (0.165, 0.201, 0.212, 0.301, 0.445, 0.607)
    residual: tuple[float, ...] = (0.029, 0.048, 0.090, 0.129, 0.205, 0.390)
    drop_spread: float = 0.10
    residual_spread: float = 0.02
    base_accuracy: float = 0.89
    base_spread: float = 0.07
    control_loss: float = 0.007
    n_items: int = 396
    n_replicates: int = 5
    transition_from: int = 64  # the step whose residual share the transition test compares with the last step's


def run_parameters(design: StudyDesign, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """Base accuracy a, control loss c and each step's expected drop and residual of `size` runs."""
    base = np.clip(design.base_accuracy + design.base_spread * rng.standard_normal(size), 0.5, 0.99)
    loss = np.full(size, design.control_loss) / base
    drop_effect, residual_effect = rng.standard_normal(size), rng.standard_normal(size)
    residual = np.clip(np.add.outer(design.residual_spread * residual_effect, design.residual), 0.0,
                       base[:, None] * (1 - loss[:, None]) * 0.95)
    drop = np.add.outer(design.drop_spread * drop_effect, design.drop)
    drop = np.clip(drop, residual / (1 - loss[:, None]), base[:, None] * 0.99)
    return {"base": base, "loss": loss, "drop": drop, "residual": residual}


def true_means(design: StudyDesign, draws: int = 400_000, seed: int = 12345) -> dict[Key, float]:
    """What pooled intervals should cover: the mean over runs of each step's expected drop and residual, their ratio
    (the residual share of the drop), and the change of that share from `transition_from` to the last step."""
    parameters = run_parameters(design, np.random.default_rng(seed), draws)
    truth: dict[Key, float] = {}
    for index, step in enumerate(design.steps):
        truth[("drop", step, 0)] = float(parameters["drop"][:, index].mean())
        truth[("residual", step, BUDGET)] = float(parameters["residual"][:, index].mean())
        truth[("residual_share", step, BUDGET)] = truth[("residual", step, BUDGET)] / truth[("drop", step, 0)]
    last = design.steps[-1]
    truth[("share_change", design.transition_from, BUDGET)] = (
        truth[("residual_share", last, BUDGET)] - truth[("residual_share", design.transition_from, BUDGET)])
    return truth


def share_terms(design: StudyDesign) -> dict[Key, list]:
    """The ratio terms (numerator, denominator, coefficient) of each residual share and of the share change."""
    terms = {("residual_share", step, BUDGET): [(("residual", step, BUDGET), ("drop", step, 0), 1.0)]
             for step in design.steps}
    last, first = design.steps[-1], design.transition_from
    terms[("share_change", first, BUDGET)] = [(("residual", last, BUDGET), ("drop", last, 0), 1.0),
                                               (("residual", first, BUDGET), ("drop", first, 0), -1.0)]
    return terms


def simulate_run(design: StudyDesign, rng: np.random.Generator, replicate: int) -> ComparisonData:
    """One run's per-item correctness of the base, the control, and IFT@k and restored@k at every step."""
    parameters = run_parameters(design, rng, 1)
    base_accuracy, loss = parameters["base"][0], parameters["loss"][0]
    n = design.n_items
    known = rng.random(n) < base_accuracy
    kept_by_control = known & (rng.random(n) >= loss)
    columns = {BASE: known, control(BUDGET): kept_by_control}
    for index, step in enumerate(design.steps):
        drop, residual = parameters["drop"][0, index], parameters["residual"][0, index]
        truly_lost = residual / (base_accuracy * (1 - loss))
        pattern_lost = 1 - (1 - drop / base_accuracy) / (1 - truly_lost)
        kept = rng.random(n) >= truly_lost
        columns[ift(step)] = known & kept & (rng.random(n) >= pattern_lost)
        columns[restored(step, BUDGET)] = kept_by_control & kept
    values = pd.DataFrame(np.column_stack(list(columns.values())).astype(float),
                          columns=pd.Index(list(columns), tupleize_cols=False))
    return ComparisonData(key=ComparisonKey("simulated", "simulated", replicate, 0, "simulated"), metric="exact_match",
                          budget=BUDGET, steps=list(design.steps), item_ids=[str(i) for i in range(n)],
                          values=values, weights=np.ones(n))


def simulate_study(design: StudyDesign, rng: np.random.Generator) -> list[ComparisonData]:
    return [simulate_run(design, rng, replicate) for replicate in range(design.n_replicates)]


def coverage(design: StudyDesign, n_studies: int, seed: int,
             intervals: Callable[[list[ComparisonData]], dict[Key, Estimate]]) -> dict[str, float]:
    """How often `intervals` (a study's intervals of every quantity of `true_means`) cover the truth: per quantity
    over all studies and steps, and per quantity for all steps of a study at once ("... all steps")."""
    truth = true_means(design)
    rng = np.random.default_rng(seed)
    covered = {key: np.zeros(n_studies, dtype=bool) for key in truth}
    for study in range(n_studies):
        estimates = intervals(simulate_study(design, rng))
        for key, value in truth.items():
            covered[key][study] = estimates[key].ci_low <= value <= estimates[key].ci_high
    result = {}
    for quantity in dict.fromkeys(key[0] for key in truth):
        per_step = np.column_stack([hits for key, hits in covered.items() if key[0] == quantity])
        result[quantity] = float(per_step.mean())
        result[f"{quantity}, all steps"] = float(per_step.all(axis=1).mean())
    return result
