"""The tidy summary table: one row per (model, task, metric) of the grid's eval JSONs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from iftforget.eval_json import read_eval
from iftforget.io import atomic_path
from iftforget.paths import DEFAULT_VARIANT

COLUMNS = [
    "base_model", "dataset", "ift_variant", "seed", "kind", "step", "corpus", "task", "metric", "value", "primary",
    "n_items", "model_path",
]


def tidy_scores(eval_paths: Iterable[str | Path]) -> pd.DataFrame:
    """Rows of every metric of every eval JSON; `primary` marks the metric the analysis uses for the task."""
    rows = []
    for path in eval_paths:
        result = read_eval(path)
        model = result["model"]
        for metric, value in result["metrics"].items():
            if metric in ("name", "sample_len") or metric.endswith("_stderr") or not isinstance(value, (int, float)):
                continue
            rows.append(
                {
                    "base_model": model.get("base_model", ""),
                    "dataset": model.get("dataset", ""),
                    # The IFT recipe of IFT@k and restored@k (ift.variants); the ift block's for every other model.
                    "ift_variant": model.get("ift_variant", DEFAULT_VARIANT),
                    "seed": model.get("seed"),
                    "kind": model.get("kind", ""),
                    "step": model.get("step", 0),
                    "corpus": model.get("corpus", ""),
                    "task": result["task"],
                    "metric": metric,
                    "value": float(value),
                    "primary": metric == result["primary_metric"],
                    "n_items": result["n_items"],
                    "model_path": model.get("path", ""),
                }
            )
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"seed": "Int64", "step": "int64"})
    return table.sort_values(["base_model", "dataset", "ift_variant", "seed", "kind", "step", "task", "metric"],
                             kind="stable")


def write_summary(eval_paths: Iterable[str | Path], output: str | Path) -> pd.DataFrame:
    table = tidy_scores(eval_paths)
    with atomic_path(output) as tmp:
        table.to_csv(tmp, index=False)
    return table
