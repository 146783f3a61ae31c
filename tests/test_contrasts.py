"""Paired contrasts between a grid's groups (iftforget.analysis.contrasts): the interval a reader uses to say that a
larger model, or another IFT recipe, keeps more or less of its drop than the reference on the same worlds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from iftforget.analysis.contrasts import (
    FIRST_HIGHER,
    FIRST_LOWER,
    NOT_SHOWN,
    Contrast,
    contrast_rows,
    contrast_table,
    grid_contrasts,
)

STEPS = [8, 64]
BUDGET = 50
CORPUS = "hold-bios"

pytestmark = pytest.mark.unit


def unit_rows(model: str, parameters: float | None, values: dict[int, list[tuple[float, float]]],
              variant: str = "default", task: str = "world_completion") -> list[dict]:
    """The per-run rows a contrast reads: per replicate, per seed, (drop, residual) at every step (the residual at
    the main budget, with its detectable row, and at a shorter budget that must be ignored)."""
    rows = []
    for replicate, seeds in values.items():
        for seed, (drop, residual) in enumerate(seeds):
            common = {"base_model": model, "parameters": parameters, "dataset": "qa-mix", "ift_variant": variant,
                      "corpus": CORPUS, "replicate": replicate, "seed": seed, "task": task,
                      "metric": "exact_match", "higher_is_better": True}
            for step in STEPS:
                scale = step / STEPS[-1]
                rows += [common | {"step": step, "budget": 0, "quantity": "drop", "estimate": drop * scale},
                         common | {"step": step, "budget": BUDGET, "quantity": "residual",
                                   "estimate": residual * scale},
                         common | {"step": step, "budget": BUDGET, "quantity": "residual_detectable",
                                   "estimate": residual * scale},
                         common | {"step": step, "budget": 12, "quantity": "residual", "estimate": 9.0}]
    return rows


def seed_means(values: dict[int, list[tuple[float, float]]], which: int) -> np.ndarray:
    return np.array([np.mean([pair[which] for pair in values[r]]) for r in sorted(values)])


SMALL = {0: [(0.6, 0.30), (0.5, 0.28)], 1: [(0.55, 0.33), (0.6, 0.31)], 2: [(0.7, 0.36), (0.65, 0.30)],
         3: [(0.5, 0.25), (0.6, 0.27)]}
LARGE = {0: [(0.6, 0.20), (0.55, 0.19)], 1: [(0.5, 0.22), (0.6, 0.18)], 2: [(0.7, 0.26), (0.6, 0.21)],
         3: [(0.55, 0.12), (0.6, 0.17)]}


def test_a_size_contrast_is_the_paired_t_interval_of_the_replicates_differences():
    """Each replicate's seeds are averaged in each group, then the replicates' paired differences give a t-interval
    (simultaneous over the grid's steps), as scipy's paired t-test gives it."""
    units = pd.DataFrame(unit_rows("llama-small", 2.4e5, SMALL) + unit_rows("llama-large", 2.5e6, LARGE))
    rows = pd.DataFrame(contrast_rows(units, Contrast("size", ("llama-large", "default"), ("llama-small", "default")),
                                      "qa-mix", "world_completion", CORPUS, 0.95))
    level = 1 - 0.05 / len(STEPS)
    for quantity, which in (("drop", 0), ("residual", 1)):
        row = rows[(rows.step == 64) & (rows.quantity == quantity)].iloc[0]
        expected = stats.ttest_rel(seed_means(LARGE, which), seed_means(SMALL, which)).confidence_interval(level)
        assert (row.ci_low, row.ci_high) == pytest.approx((expected.low, expected.high)), quantity
        assert row.estimate == pytest.approx(seed_means(LARGE, which).mean() - seed_means(SMALL, which).mean())
        assert row.n_pairs == 4 and row.ci_level == pytest.approx(level)
        assert row.budget == (0 if quantity == "drop" else BUDGET)
    residual = rows[(rows.step == 64) & (rows.quantity == "residual")].iloc[0]
    assert residual.call == FIRST_LOWER and residual.ci_high < 0
    assert rows[(rows.step == 64) & (rows.quantity == "drop")].iloc[0].call == NOT_SHOWN


def test_the_residual_share_contrast_is_the_difference_of_the_pooled_shares():
    """The share of the drop not brought back is a ratio of the pooled means in each group; with every drop equal,
    its contrast and interval are the residual's divided by that drop."""
    drop = 0.5
    small = {r: [(drop, residual) for _, residual in seeds] for r, seeds in SMALL.items()}
    large = {r: [(drop, residual) for _, residual in seeds] for r, seeds in LARGE.items()}
    units = pd.DataFrame(unit_rows("llama-small", 2.4e5, small) + unit_rows("llama-large", 2.5e6, large))
    rows = pd.DataFrame(contrast_rows(units, Contrast("size", ("llama-large", "default"), ("llama-small", "default")),
                                      "qa-mix", "world_completion", CORPUS, 0.95)).set_index(["step", "quantity"])
    share, residual = rows.loc[(64, "residual_share")], rows.loc[(64, "residual")]
    assert share.first_estimate == pytest.approx(seed_means(large, 1).mean() / drop)
    assert share.second_estimate == pytest.approx(seed_means(small, 1).mean() / drop)
    assert (share.estimate, share.ci_low, share.ci_high) == pytest.approx(
        (residual.estimate / drop, residual.ci_low / drop, residual.ci_high / drop))
    assert share.call == residual.call == FIRST_LOWER


def test_runs_are_paired_by_replicate_and_a_replicate_of_one_group_only_is_left_out():
    extra = SMALL | {4: [(0.9, 0.9), (0.9, 0.9)]}
    units = pd.DataFrame(unit_rows("llama-small", 2.4e5, extra) + unit_rows("llama-large", 2.5e6, LARGE))
    contrast = Contrast("size", ("llama-large", "default"), ("llama-small", "default"))
    paired = pd.DataFrame(contrast_rows(units, contrast, "qa-mix", "world_completion", CORPUS, 0.95))
    alone = pd.DataFrame(contrast_rows(units[units.replicate != 4], contrast, "qa-mix", "world_completion", CORPUS,
                                       0.95))
    pd.testing.assert_frame_equal(paired, alone)
    assert (paired.n_pairs == 4).all()
    one = units[units.replicate.isin([0, 4])]
    assert contrast_rows(one, contrast, "qa-mix", "world_completion", CORPUS, 0.95) == []


def test_the_grid_contrasts_each_size_against_the_smallest_and_each_recipe_on_its_own_base_model():
    """The smallest model by parameter count is the reference, whatever the names' order; an IFT variant is
    contrasted with the ift block's recipe on its own base model, and its rows are in no size contrast."""
    units = pd.DataFrame(unit_rows("a-large", 2.5e6, LARGE) + unit_rows("b-middle", 7.4e5, SMALL)
                         + unit_rows("c-small", 2.4e5, SMALL)
                         + unit_rows("b-middle", 7.4e5, LARGE, variant="lr1e-4-cosine"))
    assert grid_contrasts(units) == [
        Contrast("size", ("b-middle", "default"), ("c-small", "default")),
        Contrast("size", ("a-large", "default"), ("c-small", "default")),
        Contrast("recipe", ("b-middle", "lr1e-4-cosine"), ("b-middle", "default")),
    ]
    table = contrast_table(units, CORPUS, 0.95)
    last = table[(table.step == 64) & (table.quantity == "residual")].set_index("first_base_model")
    # b-middle's ift-block runs are SMALL's values, like c-small's: their contrast is 0 in every replicate.
    assert last.loc["b-middle"].query("kind == 'size'").estimate.item() == pytest.approx(0.0)
    assert last.loc["b-middle"].query("kind == 'recipe'").call.item() == FIRST_LOWER
    assert last.loc["a-large"].call == FIRST_LOWER
    assert set(table.first_parameters) == {2.5e6, 7.4e5}


def test_a_larger_residual_is_called_first_higher():
    units = pd.DataFrame(unit_rows("llama-small", 2.4e5, LARGE) + unit_rows("llama-large", 2.5e6, SMALL))
    table = contrast_table(units, CORPUS, 0.95)
    assert table[(table.step == 64) & (table.quantity == "residual")].call.item() == FIRST_HIGHER
