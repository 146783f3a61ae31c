"""Paired bootstrap over items: one resample of item indices is applied to every model of a comparison at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def resample_counts(n_items: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each item is drawn in each resample (n_resamples x n_items); the same seed gives the same draws."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=n_resamples).astype(float)


def weighted_means(values: np.ndarray, weights: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Scores of item-level values (items x models): the weighted mean, or one per resample when counts are given.

    Weights are 1 for per-item correctness and the byte count for bits per byte, which makes the weighted mean the
    corpus-level score lm-eval reports (total bits over total bytes).
    """
    if counts is None:
        return weights @ values / weights.sum()
    resampled_weights = counts * weights
    return resampled_weights @ values / resampled_weights.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its two-sided percentile interval."""

    estimate: float
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        """Significantly above 0: the whole interval is above 0."""
        return bool(self.ci_low > 0)


def percentile_interval(point: float, replicates: np.ndarray, confidence: float) -> Estimate:
    """The two-sided percentile interval of the draws (draws that are not finite, e.g. a ratio over a zero, are left
    out; with none finite the interval is empty: NaN)."""
    tail = (1.0 - confidence) / 2.0
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return Estimate(float(point), float("nan"), float("nan"))
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return Estimate(float(point), float(low), float(high))
