"""Figures of one IFT run (a comparison group): scores against k with the stages, the decomposition of the drop,
the item paths, and the text-pattern probe."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import pyplot as plt
from matplotlib.patches import Patch

from iftforget.analysis.forgetting import BEFORE_GRID, PATHS
from iftforget.figures.style import (
    COLUMN_WIDTH,
    COMPONENT_COLORS,
    COMPONENT_LABELS,
    MODEL_COLORS,
    PATH_COLORS,
    STAGE_COLORS,
    STEP_LABEL,
    metric_label,
    probe_label,
    quantity_rows,
    run_rows,
    run_title,
    save,
    stage_edges,
    use_style,
)


def draw_scores(ax: plt.Axes, rows: pd.DataFrame, *, shade_stages: bool) -> None:
    """Base and control as horizontal bands, IFT@k and restored@k against k with intervals, stages and k*."""
    lines = []
    for quantity, name in (("score_ift", "IFT@k"), ("score_restored", "restored@k")):
        part = quantity_rows(rows, quantity)
        part = part[part["step"] > 0]
        lines.append(part.assign(model=name))
    curves = pd.concat(lines)
    steps = sorted(int(s) for s in curves["step"].unique())
    curves = curves.assign(step=curves["step"].astype(float))
    for quantity, name, dash in (("score_base", "base", "-"), ("score_control", "control", "--")):
        reference = quantity_rows(rows, quantity).iloc[0]
        ax.axhline(reference["estimate"], color=MODEL_COLORS[name], linestyle=dash, linewidth=1.0, label=name)
        ax.axhspan(reference["ci_low"], reference["ci_high"], color=MODEL_COLORS[name], alpha=0.06, linewidth=0)
    sns.lineplot(
        data=curves,
        x="step",
        y="estimate",
        hue="model",
        palette={k: MODEL_COLORS[k] for k in ("IFT@k", "restored@k")},
        marker="o",
        errorbar=None,
        ax=ax,
    )
    for name, part in curves.groupby("model"):
        ax.fill_between(part["step"], part["ci_low"], part["ci_high"], color=MODEL_COLORS[name], alpha=0.15,
                        linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks(steps, [str(s) for s in steps])
    ax.minorticks_off()
    ax.set_xlabel(STEP_LABEL)
    metric = rows["metric"].iloc[0]
    ax.set_ylabel(metric_label(metric))
    if metric in ("acc", "acc_norm", "exact_match"):
        ax.set_ylim(-0.02, 1.02)  # accuracies on their whole scale, so that panels compare at a glance
    if shade_stages:
        stages = quantity_rows(rows, "drop").set_index("step")["stage"]
        for step, (left, right) in zip(steps, stage_edges(steps), strict=True):
            stage = stages.get(step, "none")
            if stage in STAGE_COLORS:
                ax.axvspan(left, right, color=STAGE_COLORS[stage], alpha=0.45, linewidth=0, zorder=0)
        k_star = rows[rows["quantity"] == "k_star"].iloc[0]
        crossing = rows[rows["quantity"] == "crossing"].iloc[0]
        transform = ax.get_xaxis_transform()
        if k_star["stage"] == BEFORE_GRID:
            ax.text(steps[0], 0.92, " actual from the first step:\n k* is before the grid", color="#b2182b",
                    transform=transform, ha="left", va="top", fontsize="x-small")
        elif pd.notna(k_star["estimate"]):
            # The bar spans where the residual crosses delta: after its left end, by its right end.
            ax.axvline(k_star["estimate"], color="#b2182b", linestyle=":", linewidth=1.2)
            low = crossing["ci_low"] if pd.notna(crossing["ci_low"]) and crossing["ci_low"] > 0 else steps[0]
            ax.plot([low, crossing["ci_high"]], [0.97, 0.97], color="#b2182b", linewidth=1.5, transform=transform,
                    solid_capstyle="butt")
            ax.text(k_star["estimate"], 0.92, f" k* = {int(k_star['estimate'])}", color="#b2182b", transform=transform,
                    ha="left", va="top", fontsize="small")
    ax.set_xlim(*stage_edges(steps)[0][:1], stage_edges(steps)[-1][1])


def scores_legend(ax: plt.Axes, *, shade_stages: bool) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if shade_stages:
        handles += [Patch(color=STAGE_COLORS[s], alpha=0.45) for s in STAGE_COLORS]
        labels += [f"{s} stage" for s in STAGE_COLORS]
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3, fontsize="small",
              handlelength=1.5, columnspacing=1.0)


def plot_scores(table: pd.DataFrame, run: Sequence, task: str, paths: Sequence[str]) -> None:
    """One run's score on a task against the IFT step, with the stages and k*."""
    use_style()
    rows = run_rows(table, run, task)
    figure, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.3))
    draw_scores(ax, rows, shade_stages=True)
    ax.set_title(f"{task}: {run_title(run)}", fontsize="small")
    scores_legend(ax, shade_stages=True)
    save(figure, paths)


def plot_decomposition(table: pd.DataFrame, run: Sequence, task: str, paths: Sequence[str]) -> None:
    """The drop at each k, stacked as recovered + residual + control shift (they sum to the drop exactly)."""
    use_style()
    rows = run_rows(table, run, task)
    drop = quantity_rows(rows, "drop")
    steps = [int(s) for s in drop["step"]]
    shift = quantity_rows(rows, "control_shift")["estimate"].iloc[0]  # the same at every step
    components = pd.DataFrame(
        {"recovered": quantity_rows(rows, "recovered")["estimate"].to_numpy(),
         "residual": quantity_rows(rows, "residual")["estimate"].to_numpy(), "control_shift": [shift] * len(steps)},
        index=[f"{k}\n{stage}" for k, stage in zip(steps, drop["stage"], strict=True)],
    )
    figure, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.3))
    # pandas stacks positive and negative parts separately, so a negative component hangs below 0.
    components.rename(columns=COMPONENT_LABELS).plot.bar(
        stacked=True, ax=ax, color=[COMPONENT_COLORS[c] for c in COMPONENT_COLORS], width=0.65, rot=0
    )
    positions = np.arange(len(steps))
    ax.errorbar(
        positions,
        drop["estimate"],
        yerr=[drop["estimate"] - drop["ci_low"], drop["ci_high"] - drop["estimate"]],
        fmt="D",
        color="black",
        markersize=3.5,
        capsize=2,
        linewidth=0.9,
        label="drop (with interval)",
    )
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("IFT step k (and its stage)")
    ax.set_ylabel(f"change in {metric_label(rows['metric'].iloc[0]).split(' (')[0]}\n(> 0: worse)")
    ax.set_title(f"{task}: {run_title(run)}", fontsize="small")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.38), ncol=2, fontsize="small")
    save(figure, paths)


def binary_tasks(table: pd.DataFrame, tasks: Sequence[str]) -> list[str]:
    """The tasks whose items are scored 1/0 (those have item paths)."""
    with_paths = set(table.loc[table["quantity"].str.startswith("path_"), "task"])
    return [t for t in tasks if t in with_paths]


def plot_transitions(table: pd.DataFrame, run: Sequence, tasks: Sequence[str], paths: Sequence[str]) -> None:
    """Per task, the share of items on each path base -> IFT@k -> restored@k at each k (stacked to 1)."""
    tasks = binary_tasks(table, tasks)
    if not tasks:
        raise ValueError("no task of the comparison has 1/0 per-item scores, so there are no item paths to draw")
    use_style()
    figure, axes = plt.subplots(len(tasks), 1, figsize=(COLUMN_WIDTH, 0.4 + 1.35 * len(tasks)), sharex=True,
                                squeeze=False)
    for ax, task in zip(axes[:, 0], tasks, strict=True):
        rows = run_rows(table, run, task)
        shares = (
            rows[rows["quantity"].str.startswith("path_")]
            .assign(path=lambda d: d["quantity"].str.removeprefix("path_"), step=lambda d: d["step"].astype(int))
            .pivot(index="step", columns="path", values="estimate")
        )
        shares = shares[[f"{p[0]}-{p[1]}-{p[2]}" for p in PATHS]]
        shares.index = shares.index.astype(str)
        shares.rename(columns=lambda p: p.replace("-", "→")).plot.bar(
            stacked=True, ax=ax, color=list(PATH_COLORS.values()), width=0.7, rot=0, legend=False
        )
        ax.set_ylim(0, 1)
        ax.minorticks_off()
        ax.set_ylabel("share of items")
        ax.set_title(task, fontsize="small")
    axes[-1, 0].set_xlabel("IFT step k")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, title="base → IFT@k → restored@k (1 = correct)", loc="upper center",
                  bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize="x-small", title_fontsize="x-small")
    figure.suptitle(f"Item paths: {run_title(run)}", fontsize="small")
    figure.tight_layout()
    save(figure, paths)


def plot_pattern_probe(table: pd.DataFrame, run: Sequence, tasks: Sequence[str], paths: Sequence[str]) -> None:
    """Bits per byte on pre-training-format and chat-format text against k, for IFT@k and restored@k."""
    use_style()
    figure, axes = plt.subplots(len(tasks), 1, figsize=(COLUMN_WIDTH, 0.5 + 1.6 * len(tasks)), sharex=True,
                                squeeze=False)
    for ax, task in zip(axes[:, 0], tasks, strict=True):
        rows = run_rows(table, run, task)
        draw_scores(ax, rows, shade_stages=False)
        ax.set_title(probe_label(task), fontsize="small")
        ax.set_ylabel("bits per byte")
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        if ax is not axes[-1, 0]:
            ax.set_xlabel("")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize="small")
    figure.suptitle(f"Text pattern probe (lower is better): {run_title(run)}", fontsize="small")
    figure.tight_layout()
    save(figure, paths)
