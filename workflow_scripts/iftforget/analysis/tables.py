"""The analysis' files: one JSON per comparison (a unit's rows of the tidy table) and one per pooled comparison,
the two tidy tables (forgetting.csv per unit, pooled.csv across units), and their HTML pages for the report. Every
row names its restoration corpus (`corpus`): the main one, or an arm's (restore.arms), and its IFT recipe
(`ift_variant`): a variant's (ift.variants), or DEFAULT_VARIANT for the ift block's, also in the rows of analysis JSONs
written before the column."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iftforget.analysis.comparison import ComparisonKey, Role, load_comparison
from iftforget.analysis.decision import Decision
from iftforget.analysis.forgetting import STAGES, AnalysisSettings
from iftforget.analysis.pooled import PooledResult, UnitResult, analyze_pooled
from iftforget.io import atomic_path, write_json_atomic
from iftforget.paths import DEFAULT_VARIANT

# 5: the corpus of every comparison and row (and, since, its IFT recipe; a JSON without it is the ift block's)
ANALYSIS_FORMAT_VERSION = 5
ROW_COLUMNS = ["step", "budget", "quantity", "estimate", "ci_low", "ci_high", "significant", "stage", "ci_level"]
# `parameters`: the base model's parameter count, as lm-eval counted it when it evaluated the base (pooled: the mean
# over the units, whose vocabularies may differ, rounded); empty where the base's eval JSONs predate the count.
# `ift_variant`: the IFT recipe, DEFAULT_VARIANT ("default") for the ift block's own.
UNIT_COLUMNS = ["base_model", "parameters", "dataset", "ift_variant", "corpus", "replicate", "seed", "task", "metric",
                "higher_is_better", *ROW_COLUMNS, "margin", "n_items", "n_resamples", "confidence", "interval_method"]
STAGE_COUNT_COLUMNS = [f"n_{stage.replace(' ', '_')}" for stage in STAGES]
POOLED_COLUMNS = ["base_model", "parameters", "dataset", "ift_variant", "corpus", "task", "metric", "higher_is_better",
                  *ROW_COLUMNS, "margin", "n_units", *STAGE_COUNT_COLUMNS, "n_resamples", "confidence",
                  "interval_method"]
TABLE_PAGE = Path(__file__).with_name("table_page.html")


def _plain(value: Any) -> Any:
    """A table cell as JSON: numpy scalars as Python ones, non-finite numbers as null."""
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _common(key: ComparisonKey, metric: str, higher_is_better: bool, margin: float | None,
            settings: AnalysisSettings, decision: Decision) -> dict[str, Any]:
    return {"base_model": key.base_model, "dataset": key.dataset, "ift_variant": key.ift_variant,
            "corpus": key.corpus, "task": key.task,
            "metric": metric, "higher_is_better": higher_is_better, "margin": margin,
            "n_resamples": settings.bootstrap_resamples, "confidence": settings.confidence,
            "interval_method": decision.method}


def _decided(decision: Decision) -> dict[str, Any]:
    """What a decision says besides its rows, as JSON."""
    return {
        "stages": {str(k): v for k, v in decision.stages.items()},
        "starts_in_actual": decision.starts_in_actual,
        "k_star": decision.k_star,
        "crossing": list(decision.crossing),
        "transition": decision.transition,
        "step_level": decision.step_level,
        "interval_method": decision.method,
        "budget_status": {str(k): v for k, v in decision.budget_status.items()},
    }


def unit_json(key: ComparisonKey, unit: UnitResult, pooled: PooledResult, margin: float | None,
              settings: AnalysisSettings, files: Mapping[Role, str], parameters: int | None = None) -> dict[str, Any]:
    """The JSON of one comparison: its decisions and its rows of forgetting.csv."""
    decision = unit.decision
    common = _common(key, pooled.metric, pooled.higher_is_better, margin, settings, decision)
    common |= {"replicate": key.replicate, "seed": key.seed, "n_items": unit.n_items, "parameters": parameters}
    return {
        "format_version": ANALYSIS_FORMAT_VERSION,
        "comparison": asdict(key),
        "settings": asdict(settings),
        "margin": margin,
        "steps": pooled.steps,
        **_decided(decision),
        "eval_files": [{"kind": kind, "step": step, "budget": budget, "path": path}
                       for (kind, step, budget), path in files.items()],
        "rows": [{name: _plain((common | row).get(name)) for name in UNIT_COLUMNS} for row in decision.rows],
    }


def pooled_json(key: ComparisonKey, pooled: PooledResult, margin: float | None,
                settings: AnalysisSettings, parameters: int | None = None) -> dict[str, Any]:
    """The JSON of a comparison pooled over its units: the pooled decisions, stage counts, each unit's k*, and its
    rows of pooled.csv."""
    common = _common(key, pooled.metric, pooled.higher_is_better, margin, settings, pooled.decision)
    common |= {"n_units": len(pooled.units), "parameters": parameters}
    rows = []
    for row in pooled.decision.rows:
        counts = pooled.stage_counts.get(row["step"], {})
        stage_counts = {column: counts.get(stage, 0) for column, stage in zip(STAGE_COUNT_COLUMNS, STAGES, strict=True)}
        rows.append({name: _plain((common | stage_counts | row).get(name)) for name in POOLED_COLUMNS})
    return {
        "format_version": ANALYSIS_FORMAT_VERSION,
        "comparison": {"base_model": key.base_model, "dataset": key.dataset, "ift_variant": key.ift_variant,
                       "corpus": key.corpus, "task": key.task},
        "settings": asdict(settings),
        "margin": margin,
        "steps": pooled.steps,
        **_decided(pooled.decision),
        "stage_counts": {str(k): v for k, v in pooled.stage_counts.items()},
        "k_star_agreement": pooled.k_star_agreement,
        "units": [{"replicate": u.replicate, "seed": u.seed, "n_items": u.n_items, **_decided(u.decision)}
                  for u in pooled.units],
        "rows": rows,
    }


def analyze_task(entry: Mapping[str, Any], settings: AnalysisSettings) -> PooledResult:
    """One task of one (base model, dataset) on one restoration corpus with one IFT recipe, from a plan entry
    (AnalysisPlan.analysis_plan, which names no recipe for the ift block's): load every unit's eval JSONs, decide per
    unit and pooled, and write the unit JSONs and the pooled JSON."""
    loaded = []
    variant = entry.get("ift_variant", DEFAULT_VARIANT)
    for unit in entry["units"]:
        key = ComparisonKey(entry["base_model"], entry["dataset"], unit["replicate"], unit["seed"], entry["task"],
                            entry["corpus"], variant)
        files = {(m["kind"], m["step"], m["budget"]): m["path"] for m in unit["models"]}
        loaded.append((key, files, load_comparison(key, files, entry["budget"])))
    pooled = analyze_pooled([(key.replicate, key.seed, data) for key, _, data in loaded], entry["margin"], settings)
    for (key, files, data), unit, plan in zip(loaded, pooled.units, entry["units"], strict=True):
        write_json_atomic(plan["output"], unit_json(key, unit, pooled, entry["margin"], settings, files,
                                                    data.parameters))
    pool_key = ComparisonKey(entry["base_model"], entry["dataset"], -1, -1, entry["task"], entry["corpus"], variant)
    counts = [data.parameters for _, _, data in loaded]
    mean = None if None in counts else round(float(np.mean(counts)))
    write_json_atomic(entry["output"], pooled_json(pool_key, pooled, entry["margin"], settings, mean))
    return pooled


def read_analysis(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(
            f"analysis result {path} is corrupt ({error.msg}); rebuild it with: snakemake --forcerun {path}"
        ) from None
    if data.get("format_version") != ANALYSIS_FORMAT_VERSION or "rows" not in data:
        raise ValueError(f"analysis result {path} is not an analysis JSON of this version; rebuild it")
    return data


def tidy_table(paths: Sequence[str | Path], columns: list[str] = UNIT_COLUMNS) -> pd.DataFrame:
    """The rows of every analysis JSON (comparison JSONs for UNIT_COLUMNS, pooled JSONs for POOLED_COLUMNS)."""
    table = with_variant(pd.DataFrame([row for path in paths for row in read_analysis(path)["rows"]], columns=columns))
    integers = {name: "Int64" for name in ("replicate", "seed", "step", "budget", "parameters") if name in columns}
    return table.astype(integers | {"n_resamples": "int64"})


def with_variant(table: pd.DataFrame) -> pd.DataFrame:
    """A table of analysis rows with its ift_variant column filled: rows written before the column (and tables read
    from such rows, e.g. a forgetting.csv of an earlier run) are the ift block's recipe, DEFAULT_VARIANT."""
    return table.assign(ift_variant=table["ift_variant"].astype(object).fillna(DEFAULT_VARIANT)
                        if "ift_variant" in table else DEFAULT_VARIANT)


def write_table(paths: Sequence[str | Path], columns: list[str], output: str | Path, html: str | Path) -> pd.DataFrame:
    """Write a tidy table as CSV and, for reading in the report, as an HTML page (style in table_page.html)."""
    table = tidy_table(paths, columns)
    with atomic_path(output) as tmp:
        table.to_csv(tmp, index=False)
    body = table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
    with atomic_path(html) as tmp:
        tmp.write_text(TABLE_PAGE.read_text().replace("{table}", body))
    return table
