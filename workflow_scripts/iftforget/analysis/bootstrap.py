"""Paired bootstrap over items: one resample of item indices is applied to every model of a comparison at once."""

from __future__ import annotations

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
