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
    category_lines,
    log_steps,
    main_budget,
    metric_label,
    quantity_rows,
    save,
    use_style,
)


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
    category_lines(axes[0], residual[residual["step"] > 0], "residual", "corpus")
    margin = knowledge["margin"].iloc[0]
    if pd.notna(margin):
        axes[0].axhline(margin, color="#b2182b", linestyle=":", linewidth=1, label=f"delta = {margin:g}")
    log_steps(axes[0], sorted(int(s) for s in quantity_rows(knowledge, "drop")["step"]))
    axes[0].set_ylabel(f"residual in {metric}\n(> 0: not brought back)")
    axes[0].set_title(f"(a) {tasks[0]}: residual at {budget} steps", fontsize="small")
    axes[0].legend(loc="upper left", fontsize="x-small")
    category_lines(axes[1], knowledge, "control_shift", "corpus", x="budget")
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
        category_lines(axes[2], gap[gap["step"] > 0], "restored_gap", "corpus")
        log_steps(axes[2], sorted(int(s) for s in quantity_rows(probe, "drop")["step"]))
        probe_metric = metric_label(probe["metric"].iloc[0]).split(" (")[0]
        axes[2].set_ylabel(f"restored@k minus the base\nin {probe_metric} (> 0: worse)")
        axes[2].set_title(f"(c) text pattern: {tasks[1]}", fontsize="small")
        axes[2].legend(loc="upper left", fontsize="x-small")
    figure.suptitle(f"{base_model} + {dataset}: restoration corpora, "
                    f"{int(knowledge['n_units'].iloc[0])} runs pooled", fontsize="small")
    save(figure, paths)
