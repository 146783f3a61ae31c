"""The eval JSONs of one comparison, loaded as item-aligned scores.

A comparison is one (base model, IFT dataset, seed, task). Its models are the base B, the control C (B restored r
steps: restored@0), and for every grid step k the IFT checkpoint IFT@k and its restoration restored@k. A model is
named by its role, the pair (kind, step): ("base", 0), ("control", 0), ("ift", k), ("restored", k).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from iftforget.evaluation import read_eval

LOWER_IS_BETTER = {"bits_per_byte", "byte_perplexity", "word_perplexity", "perplexity"}
BINARY_METRICS = {"acc", "acc_norm", "exact_match"}
# The byte count lm-eval keeps per item for a rolling-loglikelihood metric; it weights the item in the corpus score.
LENGTH_SUFFIX = "_length"

Role = tuple[str, int]
BASE: Role = ("base", 0)
CONTROL: Role = ("control", 0)


def role_order(steps: list[int]) -> list[Role]:
    """Every role of a comparison over `steps`, in the analysis' order."""
    return [BASE, CONTROL] + [(kind, step) for step in steps for kind in ("ift", "restored")]


@dataclass(frozen=True)
class ComparisonKey:
    base_model: str
    dataset: str
    seed: int
    task: str


@dataclass
class ComparisonData:
    """Per-item scores of every model of one comparison, aligned on the items' ids (one column per role)."""

    key: ComparisonKey
    metric: str
    steps: list[int]
    item_ids: list[str]
    values: pd.DataFrame
    weights: np.ndarray
    choices: np.ndarray | None = None  # answer options per item (multiple-choice tasks only)
    eval_files: dict[Role, str] = field(default_factory=dict)

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER

    @property
    def is_binary(self) -> bool:
        return self.metric in BINARY_METRICS and bool(np.isin(self.values.to_numpy(), (0.0, 1.0)).all())

    def column(self, role: Role) -> np.ndarray:
        return self.values[role].to_numpy()


def _item_table(path: str, result: dict[str, Any]) -> pd.DataFrame:
    metric = result["primary_metric"]
    rows = []
    for item in result["items"]:
        if item.get(metric) is None:
            raise ValueError(f"eval result {path}: item {item.get('id')!r} has no value of the primary metric {metric}")
        rows.append(
            {
                "id": str(item.get("id", item["doc_id"])),
                "value": float(item[metric]),
                "weight": float(item.get(metric + LENGTH_SUFFIX, 1.0)),
                "choices": len(item["loglikelihoods"]) if "loglikelihoods" in item else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    if table["id"].duplicated().any():
        raise ValueError(f"eval result {path} has duplicate item ids; items cannot be paired across models")
    return table.set_index("id")


def load_comparison(key: ComparisonKey, files: Mapping[Role, str]) -> ComparisonData:
    """Read the eval JSONs of one comparison; `files` maps each role to its eval JSON.

    Every file must hold the same task, primary metric and items; any mismatch is an error naming the file, so that
    no figure is drawn from partial or unpaired data.
    """
    for required in (BASE, CONTROL):
        if required not in files:
            raise ValueError(f"comparison {key} has no {required[0]} eval file")
    steps = sorted({step for kind, step in files if kind == "ift"})
    expected = set(role_order(steps))
    if set(files) != expected:
        raise ValueError(f"comparison {key}: eval files for {sorted(expected ^ set(files))} are missing or unexpected")

    reference_path = files[BASE]
    reference = read_eval(reference_path)
    metric = reference["primary_metric"]
    base_items = _item_table(reference_path, reference)
    columns: dict[Role, pd.Series] = {}
    for role in role_order(steps):
        path = files[role]
        result = reference if role == BASE else read_eval(path)
        if result["task"] != key.task:
            raise ValueError(f"eval result {path} is of task {result['task']!r}, expected {key.task!r}")
        if result["primary_metric"] != metric:
            raise ValueError(
                f"eval result {path} uses metric {result['primary_metric']!r} but {reference_path} uses {metric!r}"
            )
        items = base_items if role == BASE else _item_table(path, result)
        if set(items.index) != set(base_items.index):
            raise ValueError(
                f"eval result {path} has other items than {reference_path} "
                f"({len(set(items.index) ^ set(base_items.index))} differ); all models of a comparison must be "
                "evaluated on the same items"
            )
        columns[role] = items["value"].reindex(base_items.index)
    values = pd.DataFrame(columns)
    choices = base_items["choices"].to_numpy()
    return ComparisonData(
        key=key,
        metric=metric,
        steps=steps,
        item_ids=list(base_items.index),
        values=values,
        weights=base_items["weight"].to_numpy(),
        choices=None if np.isnan(choices).any() else choices,
        eval_files=dict(files),
    )
