"""The figures' shared style, colours, labels and file writing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from iftforget.analysis.forgetting import STAGES
from iftforget.io import atomic_path
from iftforget.paths import DEFAULT_VARIANT

COLUMN_WIDTH = 3.3  # inches: one column of an ACL/CCL two-column paper
MODEL_COLORS = {"base": "#222222", "control": "#7f7f7f", "IFT@k": "#1f77b4", "restored@k": "#d95f02"}
STAGE_COLORS = {"pseudo": "#fdd49e", "undecided": "#e0e0e0", "actual": "#fb9a99"}  # "no material drop": unshaded
STAGE_ORDER = STAGES
STAGE_BAR_COLORS = {"pseudo": "#fdae61", "no material drop": "#ffffbf", "undecided": "#bababa", "actual": "#d7191c"}
COMPONENT_COLORS = {"recovered": "#66a61e", "residual": "#e7298a", "control_shift": "#bdbdbd"}
COMPONENT_LABELS = {
    "recovered": "recovered (pattern shift)",
    "residual": "residual (knowledge loss)",
    "control_shift": "control shift (restoring the base)",
}
PATH_COLORS = {
    "1-1-1": "#1b7837",
    "1-1-0": "#a6dba0",
    "1-0-1": "#f4a582",
    "1-0-0": "#b2182b",
    "0-1-1": "#2166ac",
    "0-1-0": "#92c5de",
    "0-0-1": "#8073ac",
    "0-0-0": "#e0e0e0",
}
METRIC_LABELS = {
    "acc": "accuracy",
    "acc_norm": "accuracy (length-normalised)",
    "exact_match": "exact match",
    "bits_per_byte": "bits per byte (lower is better)",
}
STEP_LABEL = "IFT step k (log scale)"


def use_style() -> None:
    sns.set_theme(
        context="paper",
        style="ticks",
        font_scale=0.85,
        rc={
            "axes.grid": True,
            "grid.linewidth": 0.4,
            "grid.alpha": 0.5,
            "legend.frameon": False,
            "pdf.fonttype": 42,  # editable text in the PDF
            "savefig.dpi": 300,
            "lines.linewidth": 1.2,
            "lines.markersize": 4,
        },
    )


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def probe_label(task: str) -> str:
    if "pretrain" in task:
        return f"pre-training-format text ({task})"
    if "chat" in task:
        return f"chat-format text ({task})"
    return task


def save(figure: plt.Figure, paths: Sequence[str | Path]) -> None:
    """Write the figure to every path (the format follows the suffix), each atomically."""
    for path in paths:
        path = Path(path)
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=path.suffix.lstrip("."), bbox_inches="tight")
    plt.close(figure)


def main_budget(rows: pd.DataFrame) -> int:
    """The restoration budget at which a comparison's stages are called (that of its detectable-residual rows)."""
    return int(rows.loc[rows["quantity"] == "residual_detectable", "budget"].iloc[0])


def at_budget(rows: pd.DataFrame, budget: int) -> pd.DataFrame:
    """The rows of one restoration budget, with the rows that have none (the base, IFT@k, the drop, k*)."""
    keep = rows["budget"].isin([0, budget]) | rows["budget"].isna() | rows["quantity"].isin(["k_star", "crossing"])
    return rows[keep]


def select(table: pd.DataFrame, **columns) -> pd.DataFrame:
    """The rows of `table` whose columns have the given values; an error names them when there are none."""
    rows = table
    for column, value in columns.items():
        rows = rows[rows[column] == value]
    if rows.empty:
        raise ValueError(f"the analysis has no rows for {columns}")
    return rows


def run_rows(table: pd.DataFrame, run: Sequence, task: str) -> pd.DataFrame:
    """The rows of one run (base model, dataset, replicate, seed) and task at its main budget."""
    base_model, dataset, replicate, seed = run
    rows = select(table, base_model=base_model, dataset=dataset, replicate=int(replicate), seed=int(seed), task=task)
    return at_budget(rows, main_budget(rows))


def pool_title(where: Sequence, rows: pd.DataFrame) -> str:
    """"<base model> + <dataset>", naming the IFT recipe where the rows are an IFT variant's (ift.variants): its
    figures sit beside the ift block's recipe's and look the same."""
    recipes = set(rows["ift_variant"].dropna()) - {DEFAULT_VARIANT} if "ift_variant" in rows else set()
    return f"{where[0]} + {where[1]}" + (f", IFT recipe {', '.join(sorted(recipes))}" if recipes else "")


def run_title(run: Sequence) -> str:
    base_model, dataset, replicate, seed = run
    return f"{base_model} + {dataset} (replicate {replicate}, seed {seed})"


def quantity_rows(rows: pd.DataFrame, quantity: str) -> pd.DataFrame:
    return rows[rows["quantity"] == quantity].sort_values("step")


def stage_edges(steps: Sequence[int]) -> list[tuple[float, float]]:
    """The span of each step on a log axis: from the geometric midpoint with its left neighbour to the right one."""
    logs = np.log(np.asarray(steps, dtype=float))
    if len(logs) == 1:
        half = np.log(2.0) / 2
        return [(float(np.exp(logs[0] - half)), float(np.exp(logs[0] + half)))]
    mids = (logs[1:] + logs[:-1]) / 2
    lefts = np.concatenate([[logs[0] - (mids[0] - logs[0])], mids])
    rights = np.concatenate([mids, [logs[-1] + (logs[-1] - mids[-1])]])
    return list(zip(np.exp(lefts), np.exp(rights), strict=True))


def log_steps(ax: plt.Axes, steps: Sequence[int]) -> None:
    """A log-scaled step axis with a tick at each of `steps`."""
    ax.set_xscale("log")
    ax.set_xticks(list(steps), [str(s) for s in steps])
    ax.minorticks_off()
    ax.set_xlabel(STEP_LABEL)


LINE_COLORS = ("#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e")  # the first line (main corpus, ...) orange
LINE_DASHES = ("-", "--", "-.", ":", "--")  # lines that coincide stay visible


def category_lines(ax: plt.Axes, rows: pd.DataFrame, quantity: str, column: str, order: Sequence[str] | None = None,
                   labels: Mapping[str, str] | None = None, x: str = "step") -> None:
    """One line per value of `column` (in `order`, else the table's order) of a pooled quantity against `x` (step or
    budget), with its interval as a band; a value without rows keeps its colour and is left out."""
    values = list(order) if order is not None else list(dict.fromkeys(rows[column]))
    for index, value in enumerate(values):
        line = quantity_rows(rows[rows[column] == value], quantity).sort_values(x)
        if line.empty:
            continue
        color, dash = LINE_COLORS[index % len(LINE_COLORS)], LINE_DASHES[index % len(LINE_DASHES)]
        position = line[x].astype(float)
        ax.plot(position, line["estimate"], color=color, linestyle=dash, marker="o", markersize=3,
                label=(labels or {}).get(value, value))
        ax.fill_between(position, line["ci_low"], line["ci_high"], color=color, alpha=0.15, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.6)
