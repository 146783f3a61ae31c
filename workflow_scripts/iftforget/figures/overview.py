"""Figures across IFT runs (several models, datasets or seeds): the residual of every run, and the IFT datasets of a
base model compared.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from iftforget.figures.style import (
    COLUMN_WIDTH,
    at_budget,
    log_steps,
    main_budget,
    metric_label,
    quantity_rows,
    save,
    select,
    use_style,
)

DATASET_COLORS = ("#1b9e77", "#7570b3", "#d95f02", "#e7298a", "#66a61e")


def plot_residual_grid(table: pd.DataFrame, tasks: Sequence[str], paths: Sequence[str]) -> None:
    """Heatmap of residual(k) over every run and task (rows) and step (columns), at the main restoration budget;
    * marks a residual whose whole interval lies above the task's margin delta (an actual step)."""
    use_style()
    residual = table[(table["quantity"] == "residual") & table["task"].isin(tasks)]
    residual = residual[residual["budget"] == main_budget(table)].copy()
    # Rows are named by what varies between them; what all share goes into the title.
    parts = {"base_model": "model", "dataset": "dataset", "replicate": "rep", "seed": "seed", "task": "task"}
    varying = [c for c in parts if residual[c].nunique() > 1] or ["task"]
    shared = [f"{parts[c]} {residual[c].iloc[0]}" for c in parts if c not in varying]
    residual["comparison"] = residual[varying].astype(str).apply(
        lambda row: " / ".join(f"{parts[c]} {v}" if c in ("replicate", "seed") else v for c, v in row.items()), axis=1
    )
    residual["step"] = residual["step"].astype(int)
    values = residual.pivot(index="comparison", columns="step", values="estimate")
    marks = residual.assign(mark=np.where(residual["stage"] == "actual", "*", "")).pivot(
        index="comparison", columns="step", values="mark"
    )
    labels = values.map(lambda v: f"{v:.2f}") + marks
    figure, ax = plt.subplots(figsize=(COLUMN_WIDTH, 0.9 + 0.28 * len(values)))
    sns.heatmap(values, annot=labels, fmt="", center=0, cmap="vlag", linewidths=0.5, ax=ax,
                annot_kws={"fontsize": 6}, cbar_kws={"label": "residual (> 0: knowledge lost)"})
    ax.set_xlabel("IFT step k")
    ax.set_ylabel(" / ".join(parts[c] for c in varying))
    title = "Residual forgetting (* actual: interval above delta)"
    ax.set_title(title + (f"\n{' / '.join(shared)}" if shared else ""), fontsize="small")
    save(figure, paths)


def plot_contrast(pooled: pd.DataFrame, base_model: str, task: str, paths: Sequence[str]) -> None:
    """The IFT datasets of one base model compared: pooled drop(k) (solid) and residual(k) (dashed) with intervals."""
    use_style()
    rows = select(pooled, base_model=base_model, task=task)
    figure, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4))
    handles = []
    for color, (dataset, part) in zip(DATASET_COLORS, rows.groupby("dataset", sort=False), strict=False):
        part = at_budget(part, main_budget(part))
        for quantity, style in (("drop", "-"), ("residual", "--")):
            line = quantity_rows(part, quantity)
            line = line[line["step"] > 0]
            x = line["step"].astype(float)
            ax.plot(x, line["estimate"], color=color, linestyle=style, marker="o", markersize=3)
            ax.fill_between(x, line["ci_low"], line["ci_high"], color=color, alpha=0.12, linewidth=0)
        handles.append(Patch(color=color, label=dataset))
    handles += [Line2D([], [], color="black", linestyle="-", label="drop"),
                Line2D([], [], color="black", linestyle="--", label="residual")]
    ax.axhline(0, color="black", linewidth=0.6)
    log_steps(ax, sorted(int(s) for s in rows.loc[rows["step"] > 0, "step"].dropna().unique()))
    ax.set_ylabel(f"change in {metric_label(rows['metric'].iloc[0]).split(' (')[0]}\n(> 0: worse)")
    ax.set_title(f"{task}: {base_model}, IFT datasets pooled over runs", fontsize="small")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, fontsize="x-small")
    save(figure, paths)
