"""The residual's limit under restoration (iftforget.analysis.limit): curves with a known limit are fitted back, the
limit is pooled over replicates, and a step is called against delta only where both curve families agree and every
replicate's curve has flattened within the budgets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iftforget.analysis.limit import (
    ABOVE,
    BELOW,
    FAMILIES,
    UPPER_BOUND,
    fit_curve,
    limit_cases,
    limit_table,
)

pytestmark = pytest.mark.unit

EXPONENTIAL, POWER = FAMILIES
BUDGETS = [12, 50, 200, 800]
DELTA = 0.05


def units_table(curves: dict[int, list[float]], budgets=BUDGETS, seeds=(0,), task="world_completion",
                step=256) -> pd.DataFrame:
    """forgetting.csv rows of the residual at one step: one curve per replicate (the same for each of its seeds)."""
    rows = [{"base_model": "m", "dataset": "d", "corpus": "c", "replicate": replicate, "seed": seed, "task": task,
             "step": step,
             "budget": budget, "quantity": "residual", "estimate": value, "margin": DELTA}
            for replicate, values in curves.items() for seed in seeds for budget, value in zip(budgets, values)]
    # A drop row (budget 0) and another step restored at one budget only: neither is a curve.
    rows += [{"base_model": "m", "dataset": "d", "corpus": "c", "replicate": r, "seed": 0, "task": task, "step": step,
              "budget": 0,
              "quantity": "drop", "estimate": 0.6, "margin": DELTA} for r in curves]
    rows += [{"base_model": "m", "dataset": "d", "corpus": "c", "replicate": r, "seed": 0, "task": task, "step": 8,
              "budget": 50,
              "quantity": "residual", "estimate": 0.01, "margin": DELTA} for r in curves]
    return pd.DataFrame(rows)


def exponential(limit: float, amplitude: float, tau: float, budgets=BUDGETS) -> list[float]:
    return [limit + amplitude * np.exp(-b / tau) for b in budgets]


@pytest.mark.parametrize("limit", [0.3, 0.0, -0.05])
def test_an_exponential_curve_is_fitted_back_to_its_limit(limit):
    fit = fit_curve(BUDGETS, exponential(limit, 0.4, 60.0), EXPONENTIAL)
    assert fit.limit == pytest.approx(limit, abs=2e-3)
    assert fit.shape == pytest.approx(60.0, rel=0.02)
    assert fit.identified


def test_a_power_law_tail_puts_the_limit_lower_than_an_exponential_on_the_same_points():
    points = [0.25 + 0.6 * b ** -0.5 for b in BUDGETS]
    power, exp = fit_curve(BUDGETS, points, POWER), fit_curve(BUDGETS, points, EXPONENTIAL)
    assert power.limit == pytest.approx(0.25, abs=2e-3)
    assert exp.limit > power.limit + 0.02


def test_a_residual_still_falling_like_a_line_has_no_identified_limit():
    """A straight line over the budgets has not flattened: its best exponential scale is the grid's end."""
    fit = fit_curve(BUDGETS, [0.5 - 0.0004 * b for b in BUDGETS], EXPONENTIAL)
    assert not fit.identified


def test_a_flat_residual_has_its_limit_at_its_level():
    fit = fit_curve(BUDGETS, [0.2, 0.2, 0.2, 0.2], EXPONENTIAL)
    assert fit.identified and fit.amplitude == 0 and fit.limit == pytest.approx(0.2)


def test_a_curve_needs_three_distinct_positive_budgets():
    with pytest.raises(ValueError, match="3 or more distinct positive budgets"):
        fit_curve([12, 50], [0.3, 0.2], EXPONENTIAL)
    with pytest.raises(ValueError, match="3 or more distinct positive budgets"):
        fit_curve([0, 12, 50], [0.6, 0.3, 0.2], EXPONENTIAL)


def test_only_steps_restored_at_three_or_more_budgets_are_fitted():
    units = units_table({0: exponential(0.3, 0.4, 60), 1: exponential(0.3, 0.4, 60)})
    assert limit_cases(units) == [("m", "d", "default", "c", "world_completion", 256)]


def test_the_pooled_limit_is_the_mean_of_the_replicates_limits_with_a_t_interval():
    limits = [0.20, 0.25, 0.30, 0.35, 0.28]
    table = limit_table(units_table({r: exponential(v, 0.4, 60) for r, v in enumerate(limits)}), 0.95)
    pooled = table[table["replicate"].isna() & (table["family"] == "exponential")].iloc[0]
    fitted = table[table["replicate"].notna() & (table["family"] == "exponential")]["limit"].to_numpy()
    assert fitted == pytest.approx(limits, abs=2e-3)
    half = 2.7764451051977987 * np.std(fitted, ddof=1) / np.sqrt(len(fitted))  # t(0.975, 4 df)
    assert pooled["limit"] == pytest.approx(np.mean(fitted))
    assert (pooled["ci_low"], pooled["ci_high"]) == pytest.approx((np.mean(fitted) - half, np.mean(fitted) + half))
    assert pooled["n_replicates"] == 5 and pooled["n_identified"] == 5


def test_seeds_of_a_replicate_are_averaged_before_the_fit():
    """Two seeds of each of three replicates, 0.1 apart: three limits, not six (the replicates are the independent
    units), each the limit of its seeds' mean curve."""
    units = units_table({r: exponential(0.2 + 0.05 * r, 0.4, 60) for r in range(3)}, seeds=(0, 1))
    units.loc[(units["seed"] == 1) & (units["quantity"] == "residual"), "estimate"] += 0.1
    table = limit_table(units, 0.95)
    fitted = table[table["replicate"].notna() & (table["family"] == "exponential")]
    assert fitted["replicate"].tolist() == [0, 1, 2]
    assert fitted["limit"].to_numpy() == pytest.approx([0.25, 0.30, 0.35], abs=2e-3)
    assert int(table.loc[table["replicate"].isna(), "n_replicates"].iloc[0]) == 3


def call_of(curves: dict[int, list[float]]) -> tuple[str, str, str]:
    table = limit_table(units_table(curves), 0.95)
    pooled = table[table["replicate"].isna()].set_index("family")
    return pooled.loc["exponential", "family_call"], pooled.loc["power", "family_call"], pooled["call"].iloc[0]


def test_a_limit_clearly_above_delta_in_both_families_is_called_above():
    """Curves that have flattened by 200 steps (tau = 20): both families find the same limit."""
    curves = {r: exponential(0.25 + 0.01 * r, 0.5, 20) for r in range(5)}
    assert call_of(curves) == (ABOVE, ABOVE, ABOVE)


def test_a_limit_clearly_below_delta_in_both_families_is_called_below():
    curves = {r: exponential(0.01 + 0.002 * r, 0.5, 20) for r in range(5)}
    assert call_of(curves) == (BELOW, BELOW, BELOW)


def test_families_that_disagree_leave_the_residual_an_upper_bound():
    """A power law with limit 0, still falling at the largest budget: an exponential finds a limit above delta, the
    power-law tail one that is not; the step keeps its residual as an upper bound."""
    curves = {r: [0.5 * b ** -0.15 + 0.005 * r for b in BUDGETS] for r in range(5)}
    exp_call, power_call, call = call_of(curves)
    assert exp_call == ABOVE and power_call != ABOVE
    assert call == UPPER_BOUND


def test_one_replicate_gives_no_interval_and_no_call():
    table = limit_table(units_table({0: exponential(0.3, 0.4, 20)}), 0.95)
    pooled = table[table["replicate"].isna()]
    assert pooled["ci_low"].isna().all() and (pooled["call"] == UPPER_BOUND).all()


def test_each_restoration_corpus_gets_its_own_limit():
    """The same runs restored on two corpora (an arm beside the main one): the curves are not pooled across them."""
    main = units_table({r: exponential(0.30, 0.4, 20) for r in range(3)})
    arm = units_table({r: exponential(0.10, 0.4, 20) for r in range(3)}).assign(corpus="arm")
    table = limit_table(pd.concat([main, arm]), 0.95)
    pooled = table[table["replicate"].isna() & (table["family"] == "exponential")].set_index("corpus")["limit"]
    assert pooled.to_dict() == pytest.approx({"c": 0.30, "arm": 0.10}, abs=2e-3)


def test_each_ift_recipe_gets_its_own_limit():
    """The same runs tuned with two IFT recipes (a variant beside the ift block's, ift.variants) against the same
    control: the curves are not pooled across them, and a table without the column is the ift block's recipe's."""
    main = units_table({r: exponential(0.30, 0.4, 20) for r in range(3)})
    variant = units_table({r: exponential(0.10, 0.4, 20) for r in range(3)}).assign(ift_variant="lr-low")
    table = limit_table(pd.concat([main, variant]), 0.95)
    pooled = table[table["replicate"].isna() & (table["family"] == "exponential")].set_index("ift_variant")["limit"]
    assert pooled.to_dict() == pytest.approx({"default": 0.30, "lr-low": 0.10}, abs=2e-3)
