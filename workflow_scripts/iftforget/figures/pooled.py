"""Figures of a (base model, dataset) pooled over its runs (replicates and seeds), on the main restoration corpus:
scores with the pooled stages and every run's curves, the residual share of the drop, the stage of each step across
runs, the residual against the restoration budget, and the headline figure (scores, residual share, text pattern).
Intervals are the analysis' pooled intervals (a t-interval on the runs' means, simultaneous over the grid's steps).
The restoration corpora of a pool compared are `iftforget.figures.corpora`'s; the IFT datasets compared,
`iftforget.figures.overview`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from iftforget.analysis.intervals import above
from iftforget.figures.group import draw_scores, scores_legend
from iftforget.figures.style import (
    COLUMN_WIDTH,
    MODEL_COLORS,
    STAGE_BAR_COLORS,
    STAGE_ORDER,
    at_budget,
    log_steps,
    main_budget,
    metric_label,
    pool_title,
    quantity_rows,
    save,
    select,
    use_style,
)


def pooled_rows(pooled: pd.DataFrame, base_model: str, dataset: str, task: str) -> pd.DataFrame:
    return select(pooled, base_model=base_model, dataset=dataset, task=task)


def _scores_panel(ax: plt.Axes, pooled: pd.DataFrame, units: pd.DataFrame, where: Sequence, task: str) -> int:
    """IFT@k and restored@k pooled, with the stages and k*, each run's curves behind; returns the number of runs."""
    base_model, dataset = where
    rows = pooled_rows(pooled, base_model, dataset, task)
    budget = main_budget(rows)
    for (_, _), run in select(units, base_model=base_model, dataset=dataset, task=task).groupby(["replicate", "seed"]):
        run = at_budget(run, budget)
        for quantity, name in (("score_ift", "IFT@k"), ("score_restored", "restored@k")):
            part = quantity_rows(run, quantity)
            part = part[part["step"] > 0]
            ax.plot(part["step"].astype(float), part["estimate"], color=MODEL_COLORS[name], alpha=0.25, linewidth=0.6)
    draw_scores(ax, at_budget(rows, budget), shade_stages=True)
    return int(rows["n_units"].iloc[0])


def plot_pooled_scores(pooled: pd.DataFrame, units: pd.DataFrame, where: Sequence, task: str,
                       paths: Sequence[str]) -> None:
    """IFT@k and restored@k against k pooled over runs, with base and control bands, the pooled stages and k*, and
    each run's curves behind them."""
    use_style()
    figure, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.5))
    n_units = _scores_panel(ax, pooled, units, where, task)
    ax.set_title(f"{task}: {pool_title(where, pooled)}, {n_units} runs pooled", fontsize="small")
    scores_legend(ax, shade_stages=True)
    save(figure, paths)


def transition_text(rows: pd.DataFrame) -> str:
    """The transition test in words: the share's change from the first material-drop step to the last step."""
    change = quantity_rows(rows, "share_change")
    if change.empty:
        return "transition test: fewer than two steps with a material drop"
    row = change.iloc[0]
    last = int(quantity_rows(rows, "drop")["step"].max())
    return (f"share at k = {last} minus at k = {int(row['step'])}: {row['estimate']:.2f} "
            f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]: {row['stage']}")


def _share_panel(ax: plt.Axes, pooled: pd.DataFrame, units: pd.DataFrame, where: Sequence, task: str) -> str:
    """residual / drop pooled at the steps with a material drop (with its interval), each run's share behind;
    returns the transition test in words."""
    base_model, dataset = where
    rows = pooled_rows(pooled, base_model, dataset, task)
    budget = main_budget(rows)
    share = quantity_rows(at_budget(rows, budget), "residual_share")
    margin = rows["margin"].iloc[0]
    drops = quantity_rows(rows, "drop").set_index("step")["ci_low"]
    material = {step for step, low in drops.items() if pd.notna(margin) and above(low, margin)}
    share = share[share["step"].isin(material)]
    runs = select(units, base_model=base_model, dataset=dataset, task=task).groupby(["replicate", "seed"])
    for index, (_, run) in enumerate(runs):
        part = quantity_rows(at_budget(run, budget), "residual_share")
        # One legend entry for the runs, so that the legend says what the thin lines are even where no pooled drop
        # is material (no pooled line).
        ax.plot(part["step"].astype(float), part["estimate"].clip(-0.5, 1.5), color="#e7298a", alpha=0.25,
                linewidth=0.6, marker=".", markersize=2, label="each run" if index == 0 else None)
    if not share.empty:
        x = share["step"].astype(float)
        ax.plot(x, share["estimate"], color="#e7298a", marker="o", label="pooled (steps with a material drop)")
        ax.fill_between(x, share["ci_low"].clip(-0.5, 1.5), share["ci_high"].clip(-0.5, 1.5), color="#e7298a",
                        alpha=0.2, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.axhline(1, color="black", linewidth=0.6, linestyle=":")
    log_steps(ax, sorted(int(s) for s in drops.index))
    ax.set_ylim(-0.5, 1.5)
    ax.set_ylabel("residual / drop\n(0: all recovered, 1: none)")
    ax.legend(loc="upper left", fontsize="x-small")
    return transition_text(rows)


def plot_residual_share(pooled: pd.DataFrame, units: pd.DataFrame, where: Sequence, task: str,
                        paths: Sequence[str]) -> None:
    """residual(k) / drop(k) against k: the share of the drop restoration cannot bring back, pooled (with its
    interval) at the steps whose pooled drop is material, each run's share behind it, and the transition test."""
    use_style()
    figure, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4))
    test = _share_panel(ax, pooled, units, where, task)
    ax.set_title(f"{task}: {pool_title(where, pooled)}\n{test}", fontsize="x-small")
    save(figure, paths)


def _pattern_panel(ax: plt.Axes, pooled: pd.DataFrame, where: Sequence, probe: str) -> None:
    """The text-pattern probe pooled: IFT@k and restored@k against the base, and restored@k against the control, in
    the probe's units (> 0: worse), with intervals."""
    rows = pooled_rows(pooled, where[0], where[1], probe)
    rows = at_budget(rows, main_budget(rows))
    lines = (("drop", "IFT@k - base", MODEL_COLORS["IFT@k"], "-"),
             ("restored_gap", "restored@k - base", MODEL_COLORS["restored@k"], "-"),
             ("residual", "restored@k - control", MODEL_COLORS["control"], "--"))
    for quantity, label, color, style in lines:
        part = quantity_rows(rows, quantity)
        part = part[part["step"] > 0]
        x = part["step"].astype(float)
        ax.plot(x, part["estimate"], color=color, linestyle=style, marker="o", markersize=3, label=label)
        ax.fill_between(x, part["ci_low"], part["ci_high"], color=color, alpha=0.15, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.6)
    log_steps(ax, sorted(int(s) for s in quantity_rows(rows, "drop")["step"]))
    ax.set_ylabel(f"{metric_label(rows['metric'].iloc[0]).split(' (')[0]} minus the base's\n(> 0: worse)")
    ax.legend(loc="upper left", fontsize="x-small")


def plot_headline(pooled: pd.DataFrame, units: pd.DataFrame, where: Sequence, tasks: Sequence[str],
                  paths: Sequence[str]) -> None:
    """Three panels of one (base model, dataset): the knowledge probe's scores with the stages, the residual share
    of its drop with the transition test, and the text-pattern probe after IFT and after restoration."""
    use_style()
    knowledge, probe = tasks
    figure, axes = plt.subplots(1, 3, figsize=(3 * COLUMN_WIDTH, 2.6), layout="constrained")
    n_units = _scores_panel(axes[0], pooled, units, where, knowledge)
    axes[0].set_title(f"(a) {knowledge}, {n_units} runs pooled", fontsize="small")
    scores_legend(axes[0], shade_stages=True)
    test = _share_panel(axes[1], pooled, units, where, knowledge)
    axes[1].set_title(f"(b) residual share of the drop\n{test}", fontsize="x-small")
    _pattern_panel(axes[2], pooled, where, probe)
    axes[2].set_title(f"(c) text pattern: {probe}", fontsize="small")
    figure.suptitle(pool_title(where, pooled), fontsize="small")
    save(figure, paths)


def plot_stage_counts(pooled: pd.DataFrame, units: pd.DataFrame, where: Sequence, task: str,
                      paths: Sequence[str]) -> None:
    """How many runs call each step pseudo, no material drop, undecided or actual (stacked), with the pooled call
    above."""
    use_style()
    base_model, dataset = where
    rows = quantity_rows(pooled_rows(pooled, base_model, dataset, task), "drop")
    counts = pd.DataFrame({stage: rows[f"n_{stage.replace(' ', '_')}"].to_numpy() for stage in STAGE_ORDER},
                          index=[str(int(s)) for s in rows["step"]])
    figure, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.2))
    counts.plot.bar(stacked=True, ax=ax, color=[STAGE_BAR_COLORS[s] for s in STAGE_ORDER], width=0.7, rot=0,
                    edgecolor="#555555", linewidth=0.3)
    n_units = int(pooled_rows(pooled, base_model, dataset, task)["n_units"].iloc[0])
    for position, stage in enumerate(rows["stage"]):
        ax.text(position, n_units + 0.1, stage, ha="center", va="bottom", fontsize=5, rotation=90)
    ax.set_ylim(0, n_units * 1.7 + 0.5)
    ax.set_xlabel("IFT step k (pooled stage above)")
    ax.set_ylabel("runs")
    ax.set_title(f"{task}: stage of each run, {pool_title(where, pooled)}", fontsize="small")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize="x-small")
    save(figure, paths)


def plot_budget(pooled: pd.DataFrame, units: pd.DataFrame, where: Sequence, task: str, paths: Sequence[str]) -> None:
    """residual(k, r) against the restoration budget r for each step of the sweep, pooled with intervals; the
    verdict of the two largest budgets (stopped or still shrinking) in the legend."""
    use_style()
    base_model, dataset = where
    rows = pooled_rows(pooled, base_model, dataset, task)
    residual = rows[rows["quantity"] == "residual"]
    status = quantity_rows(rows, "residual_shrink").set_index("step")["stage"]
    figure, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.3))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(status), 1)))
    for color, step in zip(colors, status.index, strict=True):
        part = residual[residual["step"] == step].sort_values("budget")
        x = part["budget"].astype(float)
        ax.errorbar(x, part["estimate"], yerr=[part["estimate"] - part["ci_low"], part["ci_high"] - part["estimate"]],
                    color=color, marker="o", capsize=2, linewidth=1, label=f"k = {step}: {status[step]}")
    margin = rows["margin"].iloc[0]
    if pd.notna(margin):
        ax.axhline(margin, color="#b2182b", linestyle=":", linewidth=1, label=f"delta = {margin:g}")
    ax.axhline(0, color="black", linewidth=0.6)
    budgets = sorted(int(b) for b in residual["budget"].dropna().unique())
    ax.set_xscale("log")
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("restoration budget r (steps, log scale)")
    ax.set_ylabel(f"residual (> 0: lost)\n{metric_label(rows['metric'].iloc[0])}")
    ax.set_title(f"{task}: {pool_title(where, pooled)}", fontsize="small")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize="x-small")
    save(figure, paths)
