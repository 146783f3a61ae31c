"""The residual's limit under restoration: where a step is restored at three or more budgets, a saturating curve of
the residual against the budget is fitted per replicate, and its asymptote (the residual that no budget would
remove, if the curve holds) is pooled with a t-interval over the replicates.

Two curve families are fitted, since the asymptote is an extrapolation and depends on the tail the family assumes:
an exponential approach, residual(r) = limit + a * exp(-r / tau), and a power-law one, residual(r) = limit + a *
r**(-alpha), whose heavier tail puts the limit lower. For each value of the shape parameter (tau or alpha, on a fixed
grid) the curve is linear in (limit, a) and fitted by least squares with a >= 0 (the residual does not grow with the
budget); the shape with the smallest squared error is kept. A fit whose best shape is an end of the grid has not
found where the curve flattens (the data are close to a line or a step), so its limit is not identified; a flat fit
(no decrease over the budgets) has its limit at its level.

The call of a step, per family: *above delta at the limit* when the pooled interval lies wholly above delta and every
replicate's limit is identified; *below delta at the limit* likewise below; *upper bound only* otherwise (the
residual at the largest budget is then an upper bound on what stays lost). The step's call (`call`) is the families'
common call, and *upper bound only* where they differ: a claim must not rest on the choice of tail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from iftforget.analysis.intervals import ReplicateMeans, above, below
from iftforget.analysis.plan import LIMIT_MIN_BUDGETS as MIN_BUDGETS
from iftforget.analysis.tables import with_variant

ABOVE, BELOW, UPPER_BOUND = "above delta at the limit", "below delta at the limit", "upper bound only"
SHAPE_POINTS = 400
# Per (base model, dataset, IFT recipe, restoration corpus, task, step), as in forgetting.csv.
CASE_COLUMNS = ["base_model", "dataset", "ift_variant", "corpus", "task", "step"]
LIMIT_COLUMNS = [*CASE_COLUMNS, "family", "replicate", "budgets", "limit", "ci_low", "ci_high", "amplitude", "shape",
                 "identified", "residual_largest_budget", "n_replicates", "n_identified", "confidence", "margin",
                 "family_call", "call"]


def _exponential_shapes(budgets: np.ndarray) -> np.ndarray:
    # tau from a quarter of the smallest budget to four times the largest: outside, the curve is a step or a line.
    return np.geomspace(budgets.min() / 4, budgets.max() * 4, SHAPE_POINTS)


def _power_shapes(budgets: np.ndarray) -> np.ndarray:
    return np.geomspace(0.02, 4.0, SHAPE_POINTS)


@dataclass(frozen=True)
class Family:
    name: str
    basis: Callable[[np.ndarray, float], np.ndarray]
    shapes: Callable[[np.ndarray], np.ndarray]
    shape_name: str


FAMILIES = (
    Family("exponential", lambda budgets, tau: np.exp(-budgets / tau), _exponential_shapes, "tau"),
    Family("power", lambda budgets, alpha: budgets ** (-alpha), _power_shapes, "alpha"),
)


@dataclass(frozen=True)
class CurveFit:
    family: str
    limit: float
    amplitude: float
    shape: float
    squared_error: float
    identified: bool  # the best shape lies inside the grid, not at an end

    def predict(self, budgets: np.ndarray) -> np.ndarray:
        family = next(f for f in FAMILIES if f.name == self.family)
        return self.limit + self.amplitude * family.basis(np.asarray(budgets, dtype=float), self.shape)


def fit_curve(budgets: Sequence[float], residuals: Sequence[float], family: Family) -> CurveFit:
    """The least-squares curve of `family` through (budget, residual) points, its amplitude kept >= 0."""
    x = np.asarray(budgets, dtype=float)
    y = np.asarray(residuals, dtype=float)
    if len(x) < MIN_BUDGETS or np.any(x <= 0) or len(set(x)) != len(x):
        raise ValueError(f"a curve needs {MIN_BUDGETS} or more distinct positive budgets, got {list(x)}")
    best: tuple[float, float, float, int] | None = None
    shapes = family.shapes(x)
    for index, shape in enumerate(shapes):
        basis = family.basis(x, shape)
        design = np.column_stack([np.ones_like(x), basis])
        (limit, amplitude), *_ = np.linalg.lstsq(design, y, rcond=None)
        if not above(amplitude, 0.0):  # no decrease (or one of float noise): the best flat curve
            limit, amplitude = float(y.mean()), 0.0
        error = float(np.sum((limit + amplitude * basis - y) ** 2))
        if best is None or error < best[2] - 1e-15:
            best = (float(limit), float(amplitude), error, index)
    limit, amplitude, error, index = best
    # A flat curve (amplitude 0: no decrease over the budgets) has its limit at its level, whatever the shape.
    identified = amplitude == 0 or 0 < index < len(shapes) - 1
    return CurveFit(family.name, limit, amplitude, float(shapes[index]), error, identified)


def replicate_curves(units: pd.DataFrame, case: Sequence) -> pd.DataFrame:
    """residual(step, budget) of each replicate of one case (values of CASE_COLUMNS: one restoration corpus and IFT
    recipe; its seeds averaged, as the pooled analysis does), one column per budget > 0, one row per replicate."""
    units = with_variant(units)
    rows = units[(units[CASE_COLUMNS] == pd.Series(dict(zip(CASE_COLUMNS, case, strict=True)))).all(axis="columns")
                 & (units["quantity"] == "residual") & (units["budget"] > 0)]
    return (rows.groupby(["replicate", "budget"])["estimate"].mean().unstack("budget").dropna(axis="columns")
            .sort_index(axis="columns"))


def limit_cases(units: pd.DataFrame) -> list[tuple[str, str, str, str, str, int]]:
    """(base model, dataset, IFT recipe, restoration corpus, task, step) of every knowledge probe's step restored at
    MIN_BUDGETS or more budgets (a table without the ift_variant column is the ift block's recipe's)."""
    units = with_variant(units)
    rows = units[(units["quantity"] == "residual") & (units["budget"] > 0) & units["margin"].notna()]
    counts = rows.groupby(CASE_COLUMNS)["budget"].nunique()
    return [tuple(key) for key, count in counts.items() if count >= MIN_BUDGETS]


def family_call(low: float, high: float, margin: float, all_identified: bool) -> str:
    if all_identified and above(low, margin):
        return ABOVE
    if all_identified and below(high, margin):
        return BELOW
    return UPPER_BOUND


def limit_table(units: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Per (base model, dataset, IFT recipe, restoration corpus, task, step) with enough budgets and per family:
    each replicate's fitted curve (rows with a replicate) and the pooled limit with its t-interval over replicates
    (rows without)."""
    records = []
    for case in limit_cases(units):
        curves = replicate_curves(units, case)
        if curves.shape[1] < MIN_BUDGETS:
            continue
        budgets = [int(b) for b in curves.columns]
        step, task = int(case[-1]), case[-2]
        common = dict(zip(CASE_COLUMNS, case, strict=True)) | {
            "step": step, "budgets": " ".join(map(str, budgets)),
            "margin": float(units.loc[units["task"] == task, "margin"].dropna().iloc[0])}
        pooled = []  # the pooled row of each family
        for family in FAMILIES:
            fits = {int(r): fit_curve(budgets, curves.loc[r].to_numpy(), family) for r in curves.index}
            for replicate, fit in fits.items():
                records.append(common | {"family": family.name, "replicate": replicate, "limit": fit.limit,
                                         "ci_low": np.nan, "ci_high": np.nan, "amplitude": fit.amplitude,
                                         "shape": fit.shape, "identified": fit.identified,
                                         "residual_largest_budget": float(curves.loc[replicate].iloc[-1])})
            key = ("limit", int(step), 0)
            if len(fits) > 1:
                estimate = ReplicateMeans([{key: fit.limit} for fit in fits.values()]).linear({key: 1.0}, confidence)
                low, high = estimate.ci_low, estimate.ci_high
            else:  # one replicate: no spread to read an interval from
                low = high = np.nan
            n_identified = sum(fit.identified for fit in fits.values())
            call = family_call(low, high, common["margin"], n_identified == len(fits)) if len(fits) > 1 \
                else UPPER_BOUND
            pooled.append(common | {"family": family.name, "replicate": pd.NA,
                                     "limit": float(np.mean([fit.limit for fit in fits.values()])),
                                     "ci_low": low, "ci_high": high, "amplitude": np.nan, "shape": np.nan,
                                     "identified": n_identified == len(fits),
                                     "residual_largest_budget": float(curves.iloc[:, -1].mean()),
                                     "n_replicates": len(fits), "n_identified": n_identified,
                                     "confidence": confidence, "family_call": call})
        # The step's call: the families' common call; a claim must not rest on the choice of tail.
        calls = {row["family_call"] for row in pooled}
        step_call = calls.pop() if len(calls) == 1 else UPPER_BOUND
        records += [row | {"call": step_call} for row in pooled]
    table = pd.DataFrame(records, columns=LIMIT_COLUMNS)
    return table.astype({"replicate": "Int64", "n_replicates": "Int64", "n_identified": "Int64"})
