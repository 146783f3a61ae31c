"""The base models of a grid compared by size (each one's parameter count, as its eval JSONs record it), pooled over
the runs of each (base model, dataset) on the main restoration corpus: the drop and the residual against the IFT step,
a line per base model; and against the parameter count (log axis), the residual share of the drop at the grid's last
step and the interval in which the residual crosses delta (k*), a line per IFT recipe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from iftforget.analysis.decision import TRANSITION_SHOWN
from iftforget.figures.style import (
    COLUMN_WIDTH,
    LINE_COLORS,
    at_budget,
    category_lines,
    log_steps,
    main_budget,
    metric_label,
    quantity_rows,
    save,
    select,
    use_style,
)
from iftforget.figures.variants import PANELS
from iftforget.paths import DEFAULT_VARIANT

RECIPE_OFFSET = 1.07  # each further IFT recipe's points sit this factor right of the previous one's, to stay apart


def size_label(parameters: float) -> str:
    """A parameter count as the figures write it: 240K, 0.74M, 2.5M, 7.2B."""
    for scale, unit in ((1e9, "B"), (1e6, "M")):
        if parameters >= scale or (unit == "M" and parameters >= 1e5):
            value = parameters / scale
            return f"{value:.2g}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{parameters / 1e3:.0f}K"


def scale_points(pooled: pd.DataFrame, dataset: str, task: str, recipes: Sequence[str]) -> pd.DataFrame:
    """One row per (base model, IFT recipe in `recipes`) of `dataset` and `task`, ordered by recipe, then size: the
    base model's parameter count, the number of runs pooled, the residual share of the drop at the grid's last step
    (main budget) with its interval, where the residual crosses delta (crossing_low < k* <= crossing_high; 0 is the
    base, NaN above the grid), and the transition test's call. An error names a base model without a parameter count."""
    rows = select(pooled, dataset=dataset, task=task)
    rows = rows[rows["corpus"] == rows["corpus"].iloc[0]]  # the main corpus' rows (the tables list them first)
    points = []
    for (base_model, recipe), part in rows.groupby(["base_model", "ift_variant"], sort=False):
        if recipe not in recipes:
            continue
        parameters = part["parameters"].dropna()
        if parameters.empty:
            raise ValueError(f"base model {base_model!r} has no parameter count (model.num_parameters of its eval "
                             "JSONs), so it cannot be placed by size")
        budget = main_budget(part)
        part = at_budget(part, budget)
        shares = quantity_rows(part[part["budget"] == budget], "residual_share")
        last = shares.iloc[-1]
        crossing = quantity_rows(part, "crossing")
        transition = quantity_rows(part, "share_change")["stage"]
        points.append({
            "base_model": base_model, "ift_variant": recipe, "parameters": float(parameters.iloc[0]),
            "n_units": int(part["n_units"].iloc[0]), "step": int(last["step"]), "budget": budget,
            "share": last["estimate"], "share_low": last["ci_low"], "share_high": last["ci_high"],
            "crossing_low": crossing["ci_low"].iloc[0] if len(crossing) else np.nan,
            "crossing_high": crossing["ci_high"].iloc[0] if len(crossing) else np.nan,
            "transition": transition.iloc[0] if len(transition) else "",
        })
    if not points:
        raise ValueError(f"the analysis has no rows of the IFT recipes {list(recipes)} for {dataset}/{task}")
    order = {recipe: index for index, recipe in enumerate(recipes)}
    table = pd.DataFrame(points)
    return table.sort_values(["ift_variant", "parameters"], key=lambda c: c.map(order) if c.name == "ift_variant"
                             else c).reset_index(drop=True)


def _size_axis(ax: plt.Axes, parameters: Sequence[float]) -> None:
    ax.set_xscale("log")
    ticks = sorted(set(parameters))
    ax.set_xticks(ticks, [size_label(p) for p in ticks])
    ax.minorticks_off()
    low, high = min(ticks), max(ticks)
    ax.set_xlim(low / 1.5, high * 1.5 * RECIPE_OFFSET)
    ax.set_xlabel("base model's parameters (log scale)")


def plot_scale(pooled: pd.DataFrame, dataset: str, task: str, recipes: Sequence[str], paths: Sequence[str]) -> None:
    """Against the base model's parameter count, a line per IFT recipe, pooled intervals: (a) the residual share of
    the drop at the grid's last step (simultaneous over the steps); (b) the interval in which the residual crosses
    delta: above the last step shown below delta (the base where none is) and at or below the first step shown above
    it (k*, a dot; an arrow where no step of the grid is)."""
    use_style()
    points = scale_points(pooled, dataset, task, recipes)
    rows = select(pooled, dataset=dataset, task=task)
    steps = sorted(int(s) for s in quantity_rows(rows, "drop")["step"].unique() if s > 0)
    below_grid, above_grid = steps[0] / 2, steps[-1] * 2
    figure, (share_ax, cross_ax) = plt.subplots(1, 2, figsize=(2 * COLUMN_WIDTH, 2.6), layout="constrained")
    for index, recipe in enumerate(recipes):
        line = points[points["ift_variant"] == recipe]
        if line.empty:
            continue
        color = LINE_COLORS[index % len(LINE_COLORS)]
        x = line["parameters"].to_numpy() * RECIPE_OFFSET ** index
        share = line["share"].to_numpy()
        errors = [share - line["share_low"].to_numpy(), line["share_high"].to_numpy() - share]
        share_ax.errorbar(x, share, yerr=errors, color=color, marker="o", markersize=3, capsize=2, label=recipe)
        lows = np.where(line["crossing_low"].fillna(0).to_numpy() > 0, line["crossing_low"].fillna(0), below_grid)
        highs = line["crossing_high"].to_numpy(dtype=float)
        shown = np.isfinite(highs)
        tops = np.where(shown, highs, above_grid)
        cross_ax.vlines(x, lows, tops, color=color, linewidth=1.5, label=recipe)
        cross_ax.plot(x[shown], tops[shown], "o", color=color, markersize=4)
        cross_ax.plot(x[~shown], tops[~shown], "^", color=color, markersize=5)
    share_ax.axhline(0, color="black", linewidth=0.6)
    last = int(points["step"].max())
    metric = metric_label(rows["metric"].iloc[0])
    share_ax.set_ylabel(f"residual / drop at k = {last}\n({metric.split(' (')[0]})")
    share_ax.set_title(f"(a) {task}: share of the drop not brought back", fontsize="small")
    cross_ax.set_yscale("log", base=2)
    cross_ax.set_yticks([below_grid, *steps, above_grid], ["base", *map(str, steps), f"> {steps[-1]}"])
    cross_ax.minorticks_off()
    cross_ax.set_ylabel("IFT step k (log scale)")
    cross_ax.set_title(f"(b) {task}: k*, where the residual crosses delta", fontsize="small")
    for ax in (share_ax, cross_ax):
        _size_axis(ax, points["parameters"].tolist())
        ax.legend(loc="best", fontsize="x-small")
    runs = ", ".join(sorted({str(n) for n in points["n_units"]}))
    transitions = points[points["transition"] == TRANSITION_SHOWN]["base_model"].tolist()
    figure.suptitle(f"{dataset}: base models by size, {runs} runs each pooled, at {points['budget'].iloc[0]} "
                    f"restoration steps" + (f"; transition shown for {', '.join(transitions)}" if transitions else ""),
                    fontsize="small")
    save(figure, paths)


def plot_sizes(pooled: pd.DataFrame, dataset: str, task: str, paths: Sequence[str]) -> None:
    """The base models of one IFT dataset compared on a knowledge probe, pooled with intervals at the main budget, a
    line per base model (smallest first, named with its size): (a) drop(k); (b) residual(k), beside delta."""
    use_style()
    rows = select(pooled, dataset=dataset, task=task, ift_variant=DEFAULT_VARIANT)
    rows = at_budget(rows, main_budget(rows))
    sizes = rows.groupby("base_model")["parameters"].first().sort_values()
    labels = {model: f"{model} ({size_label(count)})" if pd.notna(count) else model for model, count in sizes.items()}
    metric = metric_label(rows["metric"].iloc[0]).split(" (")[0]
    steps = sorted(int(s) for s in quantity_rows(rows, "drop")["step"].unique() if s > 0)
    margin = rows["margin"].iloc[0]
    figure, axes = plt.subplots(1, len(PANELS), figsize=(len(PANELS) * COLUMN_WIDTH, 2.6), layout="constrained")
    for ax, letter, (quantity, label, reading) in zip(axes, "ab", PANELS, strict=True):
        category_lines(ax, rows[rows["step"] > 0], quantity, "base_model", list(sizes.index), labels)
        if quantity == "residual" and pd.notna(margin):
            ax.axhline(margin, color="#b2182b", linestyle=":", linewidth=1, label=f"delta = {margin:g}")
        log_steps(ax, steps)
        ax.set_ylabel(f"{label}\nin {metric} ({reading})")
        ax.set_title(f"({letter}) {task}: {quantity}", fontsize="small")
        ax.legend(loc="upper left", fontsize="x-small")
    figure.suptitle(f"{dataset}: base models by size, {int(rows['n_units'].max())} runs each pooled",
                    fontsize="small")
    save(figure, paths)
