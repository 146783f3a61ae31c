"""The restoration corpora of one (base model, dataset) compared (restore.arms beside restore_corpus), pooled over
its runs: the residual on each corpus, each corpus' control shift against the budget, and whether each brings the
pre-training text pattern back. The one figure that reads the rows of every corpus, not the main one's alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib import pyplot as plt

from iftforget.figures.pooled import pooled_rows
from iftforget.figures.style import (
    COLUMN_WIDTH,
    at_budget,
    log_steps,
    main_budget,
    metric_label,
    quantity_rows,
    save,
    use_style,
)

CORPUS_COLORS = ("#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e")  # the main corpus first
CORPUS_DASHES = ("-", "--", "-.", ":", "--")  # lines that coincide stay visible


def _corpus_lines(ax: plt.Axes, rows: pd.DataFrame, quantity: str, x: str) -> None:
    """One line per restoration corpus (in the table's order: the main corpus first) of a pooled quantity against
    `x` (step or budget), with its interval as a band."""
    styles = zip(CORPUS_COLORS, CORPUS_DASHES, strict=True)
    for (color, dash), (corpus, part) in zip(styles, rows.groupby("corpus", sort=False), strict=False):
        line = quantity_rows(part, quantity).sort_values(x)
        values = line[x].astype(float)
        ax.plot(values, line["estimate"], color=color, linestyle=dash, marker="o", markersize=3, label=corpus)
        ax.fill_between(values, line["ci_low"], line["ci_high"], color=color, alpha=0.15, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.6)


def plot_corpora(pooled: pd.DataFrame, where: Sequence, tasks: Sequence[str], paths: Sequence[str]) -> None:
    """The restoration corpora of one (base model, dataset) compared, pooled with intervals, a line per corpus:
    (a) residual(k) on the knowledge probe at the main budget, (b) the control shift (the base minus the control:
    what restoring alone costs the base) against the budget, (c) with a pattern probe, restored@k minus the base on
    it (whether each corpus brings the pre-training text pattern back). A corpus whose control drifts less separates
    what IFT destroyed from what the corpus itself interferes with."""
    use_style()
    base_model, dataset = where
    knowledge = pooled_rows(pooled, base_model, dataset, tasks[0])
    budget = main_budget(knowledge)
    figure, axes = plt.subplots(1, len(tasks) + 1, figsize=((len(tasks) + 1) * COLUMN_WIDTH, 2.6),
                                layout="constrained")
    metric = metric_label(knowledge["metric"].iloc[0]).split(" (")[0]
    residual = at_budget(knowledge, budget)
    _corpus_lines(axes[0], residual[residual["step"] > 0], "residual", "step")
    margin = knowledge["margin"].iloc[0]
    if pd.notna(margin):
        axes[0].axhline(margin, color="#b2182b", linestyle=":", linewidth=1, label=f"delta = {margin:g}")
    log_steps(axes[0], sorted(int(s) for s in quantity_rows(knowledge, "drop")["step"]))
    axes[0].set_ylabel(f"residual in {metric}\n(> 0: not brought back)")
    axes[0].set_title(f"(a) {tasks[0]}: residual at {budget} steps", fontsize="small")
    axes[0].legend(loc="upper left", fontsize="x-small")
    _corpus_lines(axes[1], knowledge, "control_shift", "budget")
    budgets = sorted(int(b) for b in quantity_rows(knowledge, "control_shift")["budget"].unique())
    axes[1].set_xscale("log")
    axes[1].set_xticks(budgets, [str(b) for b in budgets])
    axes[1].minorticks_off()
    axes[1].set_xlabel("restoration budget r (steps, log scale)")
    axes[1].set_ylabel(f"base minus control in {metric}\n(> 0: restoring cost the base)")
    axes[1].set_title(f"(b) {tasks[0]}: control shift", fontsize="small")
    axes[1].legend(loc="upper left", fontsize="x-small")
    if len(tasks) > 1:
        probe = pooled_rows(pooled, base_model, dataset, tasks[1])
        gap = at_budget(probe, main_budget(probe))
        _corpus_lines(axes[2], gap[gap["step"] > 0], "restored_gap", "step")
        log_steps(axes[2], sorted(int(s) for s in quantity_rows(probe, "drop")["step"]))
        probe_metric = metric_label(probe["metric"].iloc[0]).split(" (")[0]
        axes[2].set_ylabel(f"restored@k minus the base\nin {probe_metric} (> 0: worse)")
        axes[2].set_title(f"(c) text pattern: {tasks[1]}", fontsize="small")
        axes[2].legend(loc="upper left", fontsize="x-small")
    figure.suptitle(f"{base_model} + {dataset}: restoration corpora, "
                    f"{int(knowledge['n_units'].iloc[0])} runs pooled", fontsize="small")
    save(figure, paths)
