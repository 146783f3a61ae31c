"""The residual's limit under restoration (iftforget.analysis.limit): per knowledge probe, each replicate's residual
against the budget with its fitted curves, and at the right edge ("limit") the pooled limit of each curve family with
its interval, beside delta."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from iftforget.analysis.limit import FAMILIES, CurveFit
from iftforget.figures.style import COLUMN_WIDTH, save, use_style
from iftforget.paths import DEFAULT_VARIANT

FAMILY_STYLES = {"exponential": ("#1b9e77", "-"), "power": ("#7570b3", "--")}
LIMIT_AT = 4  # the limit is drawn at this many times the largest budget, on the log axis


def _panel(ax: plt.Axes, units: pd.DataFrame, limits: pd.DataFrame, task: str, step: int) -> None:
    rows = limits[(limits["task"] == task) & (limits["step"] == step)]
    budgets = [int(b) for b in rows["budgets"].iloc[0].split()]
    per_replicate = rows[rows["replicate"].notna()]
    points = units[(units["task"] == task) & (units["step"] == step) & (units["quantity"] == "residual")
                   & units["budget"].isin(budgets)]
    means = points.groupby(["replicate", "budget"])["estimate"].mean().reset_index()
    ax.scatter(means["budget"], means["estimate"], s=6, color="#444444", alpha=0.6, zorder=3, label="replicates")
    grid = np.geomspace(min(budgets), max(budgets) * LIMIT_AT, 100)
    right = max(budgets) * LIMIT_AT
    for offset, family in enumerate(FAMILIES):
        color, dash = FAMILY_STYLES[family.name]
        for _, fit in per_replicate[per_replicate["family"] == family.name].iterrows():
            curve = CurveFit(family.name, fit["limit"], fit["amplitude"], fit["shape"], 0.0, bool(fit["identified"]))
            ax.plot(grid, curve.predict(grid), color=color, linestyle=dash, linewidth=0.6, alpha=0.5)
        pooled = rows[rows["replicate"].isna() & (rows["family"] == family.name)].iloc[0]
        x = right * (1.15 + 0.25 * offset)
        ax.errorbar([x], [pooled["limit"]], yerr=[[pooled["limit"] - pooled["ci_low"]],
                                                   [pooled["ci_high"] - pooled["limit"]]],
                    color=color, marker="s", capsize=2, linewidth=1,
                    label=f"{family.name}: {pooled['limit']:.2f} [{pooled['ci_low']:.2f}, {pooled['ci_high']:.2f}]")
    margin = rows["margin"].iloc[0]
    ax.axhline(margin, color="#b2182b", linestyle=":", linewidth=1, label=f"delta = {margin:g}")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xscale("log")
    ax.set_xticks([*budgets, right * 1.27], [*map(str, budgets), "limit"])
    ax.minorticks_off()
    ax.set_xlabel("restoration budget r (steps, log scale)")
    ax.set_ylabel(f"residual at k = {step} (> 0: lost)")
    call = rows.loc[rows["replicate"].isna(), "call"].iloc[0]
    ax.set_title(f"{task}, k = {step}: {call}", fontsize="small")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=1, fontsize="x-small")


def plot_limit(units: pd.DataFrame, limits: pd.DataFrame, base_model: str, dataset: str, corpus: str,
               cases: Sequence[tuple[str, int]], paths: Sequence[str], variant: str = DEFAULT_VARIANT) -> None:
    """One panel per (task, step) of `cases` for one (base model, dataset) with IFT recipe `variant` restored on
    `corpus` (`units` and `limits` with their ift_variant column)."""
    use_style()
    units = units[(units["base_model"] == base_model) & (units["dataset"] == dataset) & (units["corpus"] == corpus)
                  & (units["ift_variant"] == variant)]
    limits = limits[(limits["base_model"] == base_model) & (limits["dataset"] == dataset)
                    & (limits["corpus"] == corpus) & (limits["ift_variant"] == variant)]
    figure, axes = plt.subplots(1, len(cases), figsize=(COLUMN_WIDTH * len(cases), 3.0), squeeze=False,
                                layout="constrained")
    for ax, (task, step) in zip(axes[0], cases, strict=True):
        _panel(ax, units, limits, task, step)
    recipe = "" if variant == DEFAULT_VARIANT else f" ({variant})"
    figure.suptitle(f"The residual's limit under restoration on {corpus}: {base_model} + {dataset}{recipe}",
                    fontsize="small")
    save(figure, paths)
