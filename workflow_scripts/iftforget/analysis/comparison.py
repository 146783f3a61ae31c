"""The eval JSONs of one comparison, loaded as item-aligned scores.

A comparison is one (base model, IFT dataset, replicate, seed, task) on one restoration corpus. Its models are the
base B, the control C (B restored r steps on the corpus: restored@0) at every restoration budget r, and for every grid
step k the IFT checkpoint IFT@k and its restorations restored@(k, r). A model is named by its role, the triple
(kind, step, budget): ("base", 0, 0), ("control", 0, r), ("ift", k, 0), ("restored", k, r).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from iftforget.eval_json import read_eval
from iftforget.paths import DEFAULT_VARIANT

LOWER_IS_BETTER = {"bits_per_byte", "byte_perplexity", "word_perplexity", "perplexity"}
BINARY_METRICS = {"acc", "acc_norm", "exact_match"}
# The byte count lm-eval keeps per item for a corpus metric; it weights the item in the corpus score.
LENGTH_SUFFIX = "_length"

Role = tuple[str, int, int]  # (kind, step, budget)
BASE: Role = ("base", 0, 0)


def control(budget: int) -> Role:
    return ("control", 0, budget)


def ift(step: int) -> Role:
    return ("ift", step, 0)


def restored(step: int, budget: int) -> Role:
    return ("restored", step, budget)


@dataclass(frozen=True)
class ComparisonKey:
    base_model: str
    dataset: str
    replicate: int
    seed: int
    task: str
    corpus: str = ""  # the restoration corpus of the control and restored@k
    ift_variant: str = DEFAULT_VARIANT  # the IFT recipe of IFT@k and restored@k (ift.variants, or the ift block's)


@dataclass
class ComparisonData:
    """Per-item scores of every model of one comparison, aligned on the items' ids (one column per role)."""

    key: ComparisonKey
    metric: str
    budget: int  # the budget at which the stages are called
    steps: list[int]
    item_ids: list[str]
    values: pd.DataFrame
    weights: np.ndarray
    choices: np.ndarray | None = None  # answer options per item (multiple-choice tasks only)
    eval_files: dict[Role, str] = field(default_factory=dict)
    parameters: int | None = None  # the base model's, as its eval JSON records it (None in evals that predate it)

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER

    @property
    def is_binary(self) -> bool:
        return self.metric in BINARY_METRICS and bool(np.isin(self.values.to_numpy(), (0.0, 1.0)).all())

    def budgets(self) -> list[int]:
        """Every budget with a control, ascending."""
        return sorted(budget for kind, _, budget in self.values.columns if kind == "control")

    def column(self, role: Role) -> np.ndarray:
        return self.values[role].to_numpy()


def _item_table(path: str, result: dict[str, Any]) -> pd.DataFrame:
    """Value, weight and number of answer options of each item, indexed by item id. Built from plain columns (not
    a frame of per-item dicts, which took most of an analysis job's time on the study's ~1,300 eval JSONs)."""
    metric = result["primary_metric"]
    length_key = metric + LENGTH_SUFFIX
    ids, values, weights, choices = [], [], [], []
    for item in result["items"]:
        value = item.get(metric)
        if value is None:
            raise ValueError(f"eval result {path}: item {item.get('id')!r} has no value of the primary metric {metric}")
        ids.append(str(item.get("id", item["doc_id"])))
        values.append(float(value))
        weights.append(float(item.get(length_key, 1.0)))
        choices.append(len(item["loglikelihoods"]) if "loglikelihoods" in item else np.nan)
    index = pd.Index(ids, dtype=object, name="id")
    if not index.is_unique:
        raise ValueError(f"eval result {path} has duplicate item ids; items cannot be paired across models")
    return pd.DataFrame({"value": np.array(values, dtype=float), "weight": np.array(weights, dtype=float),
                         "choices": np.array(choices, dtype=float)}, index=index)


def _check_roles(key: ComparisonKey, files: Mapping[Role, str], budget: int) -> list[int]:
    """The grid steps of a comparison; an error names what is missing (no figure from partial data)."""
    needed = [BASE, control(budget)]
    steps = sorted({step for kind, step, _ in files if kind == "ift"})
    needed += [role for step in steps for role in (ift(step), restored(step, budget))]
    budgets = {b for kind, _, b in files if kind == "control"}
    needed += [control(b) for kind, _, b in files if kind == "restored" and b not in budgets]
    missing = [role for role in needed if role not in files]
    if missing:
        raise ValueError(f"comparison {key}: no eval file for {missing}")
    return steps


def load_comparison(key: ComparisonKey, files: Mapping[Role, str], budget: int) -> ComparisonData:
    """Read the eval JSONs of one comparison; `files` maps each role to its eval JSON, `budget` is the restoration
    budget of every step (the others are a sweep at some steps).

    Every file must hold the same task, primary metric and items; any mismatch is an error naming the file, so that
    no figure is drawn from partial or unpaired data.
    """
    steps = _check_roles(key, files, budget)
    reference_path = files[BASE]
    reference = read_eval(reference_path)
    metric = reference["primary_metric"]
    base_items = _item_table(reference_path, reference)
    columns: dict[Role, pd.Series] = {}
    for role in sorted(files, key=lambda r: (r != BASE, r[0] != "control", r[1], r[0], r[2])):
        path = files[role]
        result = reference if role == BASE else read_eval(path)
        if result["task"] != key.task:
            raise ValueError(f"eval result {path} is of task {result['task']!r}, expected {key.task!r}")
        if result["primary_metric"] != metric:
            raise ValueError(
                f"eval result {path} uses metric {result['primary_metric']!r} but {reference_path} uses {metric!r}"
            )
        items = base_items if role == BASE else _item_table(path, result)
        # The same items, most often in the same order (the cheap check first).
        if not items.index.equals(base_items.index) and set(items.index) != set(base_items.index):
            raise ValueError(
                f"eval result {path} has other items than {reference_path} "
                f"({len(set(items.index) ^ set(base_items.index))} differ); all models of a comparison must be "
                "evaluated on the same items"
            )
        columns[role] = items["value"].reindex(base_items.index)
    choices = base_items["choices"].to_numpy()
    return ComparisonData(
        key=key,
        metric=metric,
        budget=budget,
        steps=steps,
        item_ids=list(base_items.index),
        values=pd.DataFrame(columns),
        weights=base_items["weight"].to_numpy(),
        choices=None if np.isnan(choices).any() else choices,
        eval_files=dict(files),
        parameters=reference["model"].get("num_parameters"),
    )
