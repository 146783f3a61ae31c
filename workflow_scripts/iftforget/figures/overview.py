"""Figures across IFT runs (several models, datasets or seeds)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import pyplot as plt

from iftforget.figures.style import COLUMN_WIDTH, main_budget, save, use_style


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
