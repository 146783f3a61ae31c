"""The analysis' files: one JSON per comparison (which carries its rows of the tidy table) and the tidy table itself,
as CSV and as an HTML page for the report."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iftforget.analysis.comparison import ComparisonKey, Role, load_comparison
from iftforget.analysis.forgetting import AnalysisSettings, ComparisonResult, analyze_comparison
from iftforget.io import atomic_path, write_json_atomic

ANALYSIS_FORMAT_VERSION = 2
TABLE_COLUMNS = [
    "base_model", "dataset", "seed", "task", "metric", "higher_is_better", "step", "quantity",
    "estimate", "ci_low", "ci_high", "significant", "stage", "n_items", "n_resamples", "confidence",
]
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


def comparison_json(result: ComparisonResult) -> dict[str, Any]:
    return {
        "format_version": ANALYSIS_FORMAT_VERSION,
        "comparison": asdict(result.key),
        "metric": result.metric,
        "higher_is_better": result.higher_is_better,
        "binary": result.binary,
        "multiple_choice": result.multiple_choice,
        "n_items": result.n_items,
        "steps": result.steps,
        "settings": asdict(result.settings),
        "stages": {str(k): v for k, v in result.stages.items()},
        "k_star": result.k_star,
        "k_star_interval": list(result.k_star_interval),
        "k_star_found_share": result.k_star_found_share,
        "eval_files": [{"kind": kind, "step": step, "path": path} for (kind, step), path in result.eval_files.items()],
        "rows": [{name: _plain(value) for name, value in row.items()} for row in result.rows],
    }


def analyze_files(key: ComparisonKey, files: Mapping[Role, str], settings: AnalysisSettings,
                  output: str | Path) -> ComparisonResult:
    """Analyse one comparison from its eval JSONs and write its JSON."""
    result = analyze_comparison(load_comparison(key, files), settings)
    write_json_atomic(output, comparison_json(result))
    return result


def read_comparison(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(
            f"analysis result {path} is corrupt ({error.msg}); rebuild it with: snakemake --forcerun {path}"
        ) from None
    if data.get("format_version") != ANALYSIS_FORMAT_VERSION or "rows" not in data:
        raise ValueError(f"analysis result {path} is not a comparison JSON of this version; rebuild it")
    return data


def result_table(result: ComparisonResult) -> pd.DataFrame:
    return pd.DataFrame(result.rows, columns=TABLE_COLUMNS)


def tidy_table(comparison_paths: Sequence[str | Path]) -> pd.DataFrame:
    """The tidy table: every row of every comparison JSON."""
    rows = [row for path in comparison_paths for row in read_comparison(path)["rows"]]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.astype({"seed": "int64", "step": "Int64", "n_items": "int64", "n_resamples": "int64"})


def write_table(comparison_paths: Sequence[str | Path], output: str | Path,
                html: str | Path | None = None) -> pd.DataFrame:
    """Write the tidy table as CSV and, for reading in the report, as an HTML page (style in table_page.html)."""
    table = tidy_table(comparison_paths)
    with atomic_path(output) as tmp:
        table.to_csv(tmp, index=False)
    if html is not None:
        body = table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
        with atomic_path(html) as tmp:
            tmp.write_text(TABLE_PAGE.read_text().replace("{table}", body))
    return table
