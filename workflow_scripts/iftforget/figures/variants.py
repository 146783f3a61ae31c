"""The IFT recipes of one (base model, dataset) compared (ift.variants beside the ift block's recipe), pooled over its
runs on the main restoration corpus: the drop and the residual against the IFT step, one line per recipe. The recipes
train the same steps with the same seeds, against the same control, so the lines differ by the recipe alone.
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

PANELS = (("drop", "drop (base minus IFT@k)", "> 0: IFT cost"), ("residual", "residual (control minus restored@k)",
                                                                  "> 0: not brought back"))


def plot_variants(pooled: pd.DataFrame, where: Sequence, tasks: Sequence[str], recipes: Sequence[str],
                  paths: Sequence[str]) -> None:
    """The IFT recipes of one (base model, dataset) compared on the knowledge probe tasks[0], pooled with intervals
    at the main budget, a line per recipe: (a) drop(k), what each recipe's IFT costs; (b) residual(k), what
    restoration does not bring back, beside delta."""
    use_style()
    base_model, dataset = where
    rows = pooled_rows(pooled, base_model, dataset, tasks[0])
    budget = main_budget(rows)
    rows = at_budget(rows, budget)
    metric = metric_label(rows["metric"].iloc[0]).split(" (")[0]
    figure, axes = plt.subplots(1, len(PANELS), figsize=(len(PANELS) * COLUMN_WIDTH, 2.6), layout="constrained")
    steps = sorted(int(s) for s in quantity_rows(rows, "drop")["step"].unique())
    margin = rows["margin"].iloc[0]
    for ax, letter, (quantity, label, reading) in zip(axes, "ab", PANELS, strict=True):
        category_lines(ax, rows[rows["step"] > 0], quantity, "ift_variant", recipes)
        if pd.notna(margin):
            ax.axhline(margin, color="#b2182b", linestyle=":", linewidth=1, label=f"delta = {margin:g}")
        log_steps(ax, steps)
        ax.set_ylabel(f"{label}\nin {metric} ({reading})")
        restored = f" at {budget} restoration steps" if quantity == "residual" else ""
        ax.set_title(f"({letter}) {tasks[0]}: {quantity}{restored}", fontsize="small")
        ax.legend(loc="upper left", fontsize="x-small")
    units = rows.groupby("ift_variant")["n_units"].first()
    runs = [f"{recipe} {int(units[recipe])} run{'s' if units[recipe] != 1 else ''}" for recipe in recipes
            if recipe in units]
    figure.suptitle(f"{base_model} + {dataset}: IFT recipes, {', '.join(runs)} pooled", fontsize="small")
    save(figure, paths)
