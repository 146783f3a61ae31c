"""Pseudo vs actual forgetting of one comparison, measured with paired bootstrap intervals over items.

A comparison is one (base model, IFT dataset, seed, task). Its models are the base B, the control C (B restored r
steps, "restored@0"), and for every grid step k the IFT checkpoint IFT@k and its restoration restored@k. All are
scored on the same items, so every quantity is bootstrapped *paired*: one resample of item indices is applied to
every model at once.

Orientation: every difference is expressed so that a positive value means "worse than before". For accuracy-like
metrics (higher is better) drop(k) = score(B) - score(IFT@k); for bits per byte (lower is better) the sign flips,
drop(k) = bpb(IFT@k) - bpb(B). Scores themselves are reported in the metric's own units.

    drop(k)          = B - IFT@k                 what IFT costs on the task
    recovered(k)     = restored@k - IFT@k        the share restoration brings back: pattern shift
    residual(k)      = C - restored@k            what restoration cannot bring back: knowledge loss
    control_shift    = B - C                     what restoring alone does to the base (so that
                                                 drop = recovered + residual + control_shift exactly)

stage(k) is "actual" when residual(k) is significantly above 0, "pseudo" when drop(k) is but residual(k) is not,
and "none" otherwise. "Significantly above 0" means the lower end of the two-sided percentile interval at
`confidence` is above 0 (a one-sided test at level (1 - confidence) / 2). k* is the first step in the actual
stage; its interval comes from recomputing k* in every bootstrap resample with the same decision rule (see
`first_actual_step`).

Per item (binary metrics only), the path B -> IFT@k -> restored@k is one of eight, e.g. 1->0->1 (pseudo-forgotten)
or 1->0->0 (actually forgotten). For multiple-choice tasks the forgetting rates are also chance-adjusted under the
know-or-guess response model of "Mapping Post-Training Forgetting in Language Models at Scale" (Harmon et al.,
ICLR 2026); see `chance_adjusted_transition`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iftforget.evaluation import read_eval
from iftforget.io import atomic_path, write_json_atomic

LOWER_IS_BETTER = {"bits_per_byte", "byte_perplexity", "word_perplexity", "perplexity"}
BINARY_METRICS = {"acc", "acc_norm", "exact_match"}
# The byte count lm-eval keeps per item for a rolling-loglikelihood metric; it weights the item in the corpus score.
LENGTH_SUFFIX = "_length"
PATHS = ["".join(p) for p in itertools.product("10", repeat=3)]  # "101" = 1 -> 0 -> 1
ANALYSIS_FORMAT_VERSION = 1

TABLE_COLUMNS = [
    "base_model", "dataset", "seed", "task", "metric", "higher_is_better", "step", "quantity",
    "estimate", "ci_low", "ci_high", "significant", "stage", "n_items", "n_resamples", "confidence",
]


@dataclass(frozen=True)
class AnalysisSettings:
    """Config block `analysis`: the bootstrap and the decision rule."""

    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> AnalysisSettings:
        return cls(**{k: block[k] for k in ("bootstrap_resamples", "confidence", "seed") if k in block})

    @property
    def tail(self) -> float:
        return (1.0 - self.confidence) / 2.0


@dataclass(frozen=True)
class ComparisonKey:
    base_model: str
    dataset: str
    seed: int
    task: str


@dataclass
class ComparisonData:
    """Per-item scores of every model of one comparison, aligned on the items' ids.

    `values` has one column per model: "base", "control", and ("ift", k) / ("restored", k) for each grid step k,
    flattened to the names "ift@k" and "restored@k".
    """

    key: ComparisonKey
    metric: str
    steps: list[int]
    item_ids: list[str]
    values: pd.DataFrame
    weights: np.ndarray
    choices: np.ndarray | None = None  # answer options per item (multiple-choice tasks only)
    eval_files: dict[str, str] = field(default_factory=dict)

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER

    @property
    def is_binary(self) -> bool:
        return self.metric in BINARY_METRICS and bool(np.isin(self.values.to_numpy(), (0.0, 1.0)).all())


def model_column(kind: str, step: int) -> str:
    return f"{kind}@{step}"


# --- loading --------------------------------------------------------------------------------------------------------


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


def load_comparison(key: ComparisonKey, files: Mapping[str, str]) -> ComparisonData:
    """Read the eval JSONs of one comparison; `files` maps "base", "control", "ift@k", "restored@k" to paths.

    Every file must hold the same task, primary metric and items; any mismatch is an error naming the file, so that
    no figure is drawn from partial or unpaired data.
    """
    for required in ("base", "control"):
        if required not in files:
            raise ValueError(f"comparison {key} has no {required} eval file")
    steps = sorted({int(name.split("@")[1]) for name in files if name.startswith("ift@")})
    expected = {"base", "control"} | {model_column(k, s) for s in steps for k in ("ift", "restored")}
    if set(files) != expected:
        raise ValueError(f"comparison {key}: eval files for {sorted(expected ^ set(files))} are missing or unexpected")

    reference_path = files["base"]
    reference = read_eval(reference_path)
    metric = reference["primary_metric"]
    base_items = _item_table(reference_path, reference)
    columns: dict[str, pd.Series] = {}
    for name, path in files.items():
        result = reference if name == "base" else read_eval(path)
        if result["task"] != key.task:
            raise ValueError(f"eval result {path} is of task {result['task']!r}, expected {key.task!r}")
        if result["primary_metric"] != metric:
            raise ValueError(
                f"eval result {path} uses metric {result['primary_metric']!r} but {reference_path} uses {metric!r}"
            )
        items = base_items if name == "base" else _item_table(path, result)
        if set(items.index) != set(base_items.index):
            raise ValueError(
                f"eval result {path} has other items than {reference_path} "
                f"({len(set(items.index) ^ set(base_items.index))} differ); all models of a comparison must be "
                "evaluated on the same items"
            )
        columns[name] = items["value"].reindex(base_items.index)
    order = ["base", "control"] + [model_column(k, s) for s in steps for k in ("ift", "restored")]
    values = pd.DataFrame(columns)[order]
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


# --- the bootstrap --------------------------------------------------------------------------------------------------


def resample_counts(n_items: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each item is drawn in each resample (n_resamples x n_items); the same seed gives the same draws."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=n_resamples).astype(float)


def weighted_means(values: np.ndarray, weights: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Scores of item-level values (items x models): the weighted mean, or one per resample when counts are given.

    Weights are 1 for per-item correctness and the byte count for bits per byte, which makes the weighted mean the
    corpus-level score lm-eval reports (total bits over total bytes).
    """
    if counts is None:
        return weights @ values / weights.sum()
    resampled_weights = counts * weights
    return resampled_weights @ values / resampled_weights.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Estimate:
    estimate: float
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        """Significantly above 0: the whole interval is above 0."""
        return bool(self.ci_low > 0)


def percentile_interval(point: float, replicates: np.ndarray, settings: AnalysisSettings) -> Estimate:
    low, high = np.quantile(replicates, [settings.tail, 1.0 - settings.tail])
    return Estimate(float(point), float(low), float(high))


def first_actual_step(residuals: np.ndarray, margins: np.ndarray, steps: Sequence[int]) -> np.ndarray:
    """k* of each row of `residuals` (rows x steps): the first step whose residual exceeds its margin, else inf.

    The margin of step k is estimate - ci_low of residual(k), the distance from the estimate to the lower end of its
    interval. For the original sample "residual > margin" is exactly "ci_low > 0"; applying the same margin to each
    resample's residual repeats the decision as it would have come out on that resample.
    """
    actual = residuals > margins
    first = np.where(actual.any(axis=1), np.argmax(actual, axis=1), -1)
    steps_array = np.asarray(steps, dtype=float)
    return np.where(first >= 0, steps_array[np.maximum(first, 0)], np.inf)


def chance_adjusted_transition(transition: np.ndarray, stays_wrong: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """Per-item unbiased estimates of a true 1->0 (or 0->1) transition under the know-or-guess model.

    The model of Harmon et al. (2026): on each item a model either knows the answer or guesses uniformly among its
    `choices` options (right with chance g = 1 / choices), independently at the two evaluations. Then
        P(1->0) = x (1 - g) + z g (1 - g)   and   P(0->0) = z (1 - g)^2,
    where x is the share of items known before and not after (true forgetting) and z the share known at neither.
    Solving, x = P(1->0) / (1 - g) - g P(0->0) / (1 - g)^2; the same holds for 0->1 (true backward transfer). The
    per-item version of that identity is returned, so its mean (also over bootstrap resamples) estimates x.
    """
    chance = 1.0 / choices
    return transition / (1.0 - chance) - chance * stays_wrong / (1.0 - chance) ** 2


# --- one comparison -------------------------------------------------------------------------------------------------


@dataclass
class ComparisonResult:
    key: ComparisonKey
    metric: str
    higher_is_better: bool
    binary: bool
    multiple_choice: bool
    n_items: int
    steps: list[int]
    settings: AnalysisSettings
    rows: list[dict[str, Any]]
    stages: dict[int, str]
    k_star: float | None
    k_star_interval: tuple[float | None, float | None]
    k_star_found_share: float
    eval_files: dict[str, str]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=TABLE_COLUMNS)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": ANALYSIS_FORMAT_VERSION,
            "comparison": asdict(self.key),
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "binary": self.binary,
            "multiple_choice": self.multiple_choice,
            "n_items": self.n_items,
            "steps": self.steps,
            "settings": asdict(self.settings),
            "stages": {str(k): v for k, v in self.stages.items()},
            "k_star": self.k_star,
            "k_star_interval": list(self.k_star_interval),
            "k_star_found_share": self.k_star_found_share,
            "eval_files": self.eval_files,
            "rows": [_json_row(row) for row in self.rows],
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in row.items():
        if isinstance(value, (float, np.floating)):
            out[name] = _finite_or_none(float(value))
        elif isinstance(value, np.bool_):
            out[name] = bool(value)
        elif isinstance(value, np.integer):
            out[name] = int(value)
        else:
            out[name] = value
    return out


def analyze_comparison(data: ComparisonData, settings: AnalysisSettings) -> ComparisonResult:
    """Every measured quantity of one comparison with its paired-bootstrap interval, the stages and k*."""
    values = data.values.to_numpy(dtype=float)
    n_items = values.shape[0]
    counts = resample_counts(n_items, settings.bootstrap_resamples, settings.seed)
    point_scores = pd.Series(weighted_means(values, data.weights), index=data.values.columns)
    boot_scores = pd.DataFrame(weighted_means(values, data.weights, counts), columns=data.values.columns)
    sign = 1.0 if data.higher_is_better else -1.0
    key = data.key
    common = {
        "base_model": key.base_model,
        "dataset": key.dataset,
        "seed": key.seed,
        "task": key.task,
        "metric": data.metric,
        "higher_is_better": data.higher_is_better,
        "n_items": n_items,
        "n_resamples": settings.bootstrap_resamples,
        "confidence": settings.confidence,
    }
    rows: list[dict[str, Any]] = []
    stages: dict[int, str] = {}

    def add(step: int | None, quantity: str, point: float, replicates: np.ndarray, stage: str = "") -> Estimate:
        estimate = percentile_interval(point, replicates, settings)
        # A score is not tested against 0; a difference or a share is (is it significantly above 0?).
        rows.append(
            common
            | {
                "step": step,
                "quantity": quantity,
                "estimate": estimate.estimate,
                "ci_low": estimate.ci_low,
                "ci_high": estimate.ci_high,
                "significant": None if quantity.startswith("score_") else estimate.significant,
                "stage": stage,
            }
        )
        return estimate

    def score(column: str) -> tuple[float, np.ndarray]:
        return point_scores[column], boot_scores[column].to_numpy()

    def difference(first: str, second: str) -> tuple[float, np.ndarray]:
        (p1, b1), (p2, b2) = score(first), score(second)
        return sign * (p1 - p2), sign * (b1 - b2)

    add(0, "score_base", *score("base"))
    add(0, "score_control", *score("control"))
    add(0, "score_ift", *score("base"))  # IFT@0 is the base model
    add(0, "score_restored", *score("control"))  # restored@0 is the control
    residual_points, residual_boot, residual_margins = [], [], []
    for step in data.steps:
        ift, restored = model_column("ift", step), model_column("restored", step)
        drop = percentile_interval(*difference("base", ift), settings)
        residual = percentile_interval(*difference("control", restored), settings)
        stage = "actual" if residual.significant else "pseudo" if drop.significant else "none"
        stages[step] = stage
        add(step, "score_ift", *score(ift), stage)
        add(step, "score_restored", *score(restored), stage)
        add(step, "drop", *difference("base", ift), stage)
        add(step, "recovered", *difference(restored, ift), stage)
        add(step, "residual", *difference("control", restored), stage)
        add(step, "control_shift", *difference("base", "control"), stage)
        residual_points.append(residual.estimate)
        residual_boot.append(difference("control", restored)[1])
        residual_margins.append(residual.estimate - residual.ci_low)

    binary = data.is_binary
    multiple_choice = binary and data.choices is not None and bool((data.choices >= 2).all())
    if binary:
        rows.extend(_item_path_rows(data, counts, settings, common, stages, multiple_choice))

    margins = np.asarray(residual_margins)
    k_star_point = first_actual_step(np.asarray([residual_points]), margins, data.steps)[0]
    k_star_boot = first_actual_step(np.column_stack(residual_boot), margins, data.steps)
    k_low = np.quantile(k_star_boot, settings.tail, method="lower")
    k_high = np.quantile(k_star_boot, 1.0 - settings.tail, method="higher")
    found_share = float(np.isfinite(k_star_boot).mean())
    rows.append(
        common
        | {
            "step": None,
            "quantity": "k_star",
            # No k* (no actual stage within the grid) is written as an empty cell.
            "estimate": _finite_or_none(k_star_point),
            "ci_low": _finite_or_none(k_low),
            "ci_high": _finite_or_none(k_high),
            "significant": bool(np.isfinite(k_star_point)),
            "stage": "actual" if np.isfinite(k_star_point) else "",
        }
    )
    return ComparisonResult(
        key=key,
        metric=data.metric,
        higher_is_better=data.higher_is_better,
        binary=binary,
        multiple_choice=multiple_choice,
        n_items=n_items,
        steps=list(data.steps),
        settings=settings,
        rows=rows,
        stages=stages,
        k_star=_finite_or_none(k_star_point),
        k_star_interval=(_finite_or_none(k_low), _finite_or_none(k_high)),
        k_star_found_share=found_share,
        eval_files=data.eval_files,
    )


def _item_path_rows(
    data: ComparisonData,
    counts: np.ndarray,
    settings: AnalysisSettings,
    common: dict[str, Any],
    stages: dict[int, str],
    multiple_choice: bool,
) -> list[dict[str, Any]]:
    """Shares of the eight item paths B -> IFT@k -> restored@k, and the (chance-adjusted) forgetting rates."""
    base = data.values["base"].to_numpy().astype(int)
    rows = []
    ones = np.ones(len(base))
    for step in data.steps:
        ift = data.values[model_column("ift", step)].to_numpy().astype(int)
        restored = data.values[model_column("restored", step)].to_numpy().astype(int)
        path = np.char.add(np.char.add(base.astype(str), ift.astype(str)), restored.astype(str))
        indicators = {f"path_{p[0]}-{p[1]}-{p[2]}": (path == p).astype(float) for p in PATHS}
        # Forgetting as item transitions: B -> IFT@k (everything IFT broke) and B -> restored@k (what stays broken).
        for name, after in (("ift", ift), ("restored", restored)):
            forgot = ((base == 1) & (after == 0)).astype(float)
            indicators[f"forgetting_{name}"] = forgot
            if multiple_choice:
                stays_wrong = ((base == 0) & (after == 0)).astype(float)
                indicators[f"forgetting_{name}_chance_adjusted"] = chance_adjusted_transition(
                    forgot, stays_wrong, data.choices
                )
        matrix = np.column_stack(list(indicators.values()))
        points = weighted_means(matrix, ones)
        replicates = weighted_means(matrix, ones, counts)
        for index, quantity in enumerate(indicators):
            estimate = percentile_interval(points[index], replicates[:, index], settings)
            rows.append(
                common
                | {
                    "step": step,
                    "quantity": quantity,
                    "estimate": estimate.estimate,
                    "ci_low": estimate.ci_low,
                    "ci_high": estimate.ci_high,
                    "significant": estimate.significant,
                    "stage": stages[step],
                }
            )
    return rows


# --- files ----------------------------------------------------------------------------------------------------------


def analyze_files(key: ComparisonKey, files: Mapping[str, str], settings: AnalysisSettings, output: str | Path) -> ComparisonResult:
    """Analyse one comparison from its eval JSONs and write its JSON (which carries its rows of the tidy table)."""
    result = analyze_comparison(load_comparison(key, files), settings)
    write_json_atomic(output, result.to_json())
    return result


def read_comparison(path: str | Path) -> dict[str, Any]:
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"analysis result {path} is corrupt ({error.msg}); rebuild it with: snakemake --forcerun {path}") from None
    if data.get("format_version") != ANALYSIS_FORMAT_VERSION or "rows" not in data:
        raise ValueError(f"analysis result {path} is not a comparison JSON of this version; rebuild it")
    return data


def tidy_table(comparison_paths: Sequence[str | Path]) -> pd.DataFrame:
    """The tidy table: every row of every comparison JSON."""
    rows = [row for path in comparison_paths for row in read_comparison(path)["rows"]]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.astype({"seed": "int64", "step": "Int64", "n_items": "int64", "n_resamples": "int64"})


def write_table(comparison_paths: Sequence[str | Path], output: str | Path, html: str | Path | None = None) -> pd.DataFrame:
    """Write the tidy table as CSV and, for reading in the report, as an HTML page."""
    table = tidy_table(comparison_paths)
    with atomic_path(output) as tmp:
        table.to_csv(tmp, index=False)
    if html is not None:
        page = table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
        style = "body{font-family:sans-serif;font-size:12px}td,th{padding:2px 6px;text-align:right}tr:nth-child(even){background:#f3f3f3}"
        with atomic_path(html) as tmp:
            tmp.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>Forgetting (tidy table)</title>"
                           f"<style>{style}</style></head><body>{page}</body></html>\n")
    return table
