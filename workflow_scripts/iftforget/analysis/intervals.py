"""Intervals and the comparisons made with them: ties, simultaneous levels, and the two estimators behind every row.

One run is read through its items: `ItemBootstrap` takes the percentile interval of the paired item bootstrap.
Several runs (replicates) are read through their means: `ReplicateMeans` takes a t-interval on the runs' point
estimates, with n - 1 degrees of freedom. Each run's estimate already carries its own item noise, so the spread of
the run means holds both sources of noise (training trajectory and items probed) once each, and the t quantile keeps
the interval valid with as few as two runs (exact when run means are normal; checked by simulated coverage in
`iftforget.analysis.simulation`). A ratio of pooled means (the residual share of the drop) is linearised around its
estimate (the delta method: each run contributes (num - R den) / mean(den)) and read with the same t quantile.

Comparisons with 0 and the margin are decided with a stated tolerance, `TIE_TOLERANCE`: scores of 0/1 items lie on
a grid of 1 / (items x runs), and sums over that grid leave floating-point residues such as 2.2e-17 where the exact
value is 0. A difference smaller than the tolerance is a tie, and a tie is never "above" or "below".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy import stats


# Far below the grid of any realistic comparison (1 / (items x runs) >= 1e-6 up to a million item-runs), far above
# floating-point residues of sums of a few thousand terms (~1e-15).
TIE_TOLERANCE = 1e-9

Key = tuple[str, int, int]  # (quantity, step, budget)
Term = tuple[Key, Key, float]  # numerator, denominator, coefficient of a ratio term


def above(value: float | None, threshold: float) -> bool:
    """`value` lies above `threshold` by more than the tie tolerance (None and NaN are never above)."""
    return value is not None and bool(np.isfinite(value)) and value - threshold > TIE_TOLERANCE


def below(value: float | None, threshold: float) -> bool:
    """`value` lies below `threshold` by more than the tie tolerance (None and NaN are never below)."""
    return value is not None and bool(np.isfinite(value)) and threshold - value > TIE_TOLERANCE


def simultaneous_level(confidence: float, family_size: int) -> float:
    """The level of each of `family_size` intervals that hold together with probability >= `confidence`
    (Bonferroni)."""
    return 1.0 - (1.0 - confidence) / max(family_size, 1)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its two-sided interval."""

    estimate: float
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        """Significantly above 0: the whole interval lies above 0 (a tie with 0 is not above)."""
        return above(self.ci_low, 0.0)


def percentile_interval(point: float, replicates: np.ndarray, confidence: float) -> Estimate:
    """The two-sided percentile interval of the draws (draws that are not finite, e.g. a ratio over a zero, are left
    out; with none finite the interval is empty: NaN)."""
    tail = (1.0 - confidence) / 2.0
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return Estimate(float(point), float("nan"), float("nan"))
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return Estimate(float(point), float(low), float(high))


class ItemBootstrap:
    """The intervals of one run: percentiles of the paired item bootstrap (`draws`: point and resampled values of
    every quantity)."""

    method = "percentile of the paired item bootstrap"

    def __init__(self, draws: Mapping[Key, tuple[float, np.ndarray]]) -> None:
        self.draws = dict(draws)

    def keys(self) -> list[Key]:
        return list(self.draws)

    def linear(self, terms: Mapping[Key, float], level: float) -> Estimate:
        """The interval of sum(coefficient x quantity)."""
        point = sum(c * self.draws[key][0] for key, c in terms.items())
        boot = sum(c * self.draws[key][1] for key, c in terms.items())
        return percentile_interval(point, boot, level)

    def ratios(self, terms: Sequence[Term], level: float) -> Estimate:
        """The interval of sum(coefficient x numerator / denominator) (a resample with a zero denominator is left
        out of the percentiles)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            point = sum(c * _ratio(self.draws[n][0], self.draws[d][0]) for n, d, c in terms)
            boot = sum(c * self.draws[n][1] / self.draws[d][1] for n, d, c in terms)
        return percentile_interval(point, boot, level)

    def standard_error(self, key: Key) -> float:
        return float(np.std(self.draws[key][1], ddof=1))

    def quantile(self, probability: float) -> float:
        return NormalDist().inv_cdf(probability)


class ReplicateMeans:
    """The intervals of several runs pooled: t-intervals on the runs' point estimates (`points`: one mapping per
    run; a quantity is pooled where every run has it)."""

    def __init__(self, points: Sequence[Mapping[Key, float]]) -> None:
        if len(points) < 2:
            raise ValueError("a t-interval over runs needs at least two runs; one run is read through its items")
        common = [key for key in points[0] if all(key in run for run in points)]
        self.values = {key: np.array([run[key] for run in points], dtype=float) for key in common}
        self.n_runs = len(points)
        self.method = f"t-interval on {self.n_runs} run means ({self.n_runs - 1} df)"

    def keys(self) -> list[Key]:
        return list(self.values)

    def _interval(self, point: float, per_run: np.ndarray, level: float) -> Estimate:
        if not np.all(np.isfinite(per_run)) or not np.isfinite(point):
            return Estimate(float(point), float("nan"), float("nan"))
        half = self.quantile(1.0 - (1.0 - level) / 2.0) * np.std(per_run, ddof=1) / np.sqrt(self.n_runs)
        return Estimate(float(point), float(point - half), float(point + half))

    def linear(self, terms: Mapping[Key, float], level: float) -> Estimate:
        per_run = sum(c * self.values[key] for key, c in terms.items())
        return self._interval(float(per_run.mean()), per_run, level)

    def ratios(self, terms: Sequence[Term], level: float) -> Estimate:
        """sum(coefficient x mean(numerator) / mean(denominator)), each ratio linearised around its estimate."""
        point, influence = 0.0, np.zeros(self.n_runs)
        for numerator, denominator, c in terms:
            num, den = self.values[numerator], self.values[denominator]
            ratio = _ratio(num.mean(), den.mean())
            point += c * ratio
            with np.errstate(divide="ignore", invalid="ignore"):
                influence = influence + c * (num - ratio * den) / den.mean()
        return self._interval(point, point + influence, level)

    def standard_error(self, key: Key) -> float:
        return float(np.std(self.values[key], ddof=1) / np.sqrt(self.n_runs))

    def quantile(self, probability: float) -> float:
        return float(stats.t.ppf(probability, self.n_runs - 1))


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else float("nan")


Estimator = ItemBootstrap | ReplicateMeans
