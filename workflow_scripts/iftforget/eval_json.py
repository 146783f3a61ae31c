"""The eval JSON, one per (model, task): the task's metrics and one record per item, built from lm-eval's results
(a group task's items from its subtasks), with the harness settings it was made with; and read back with an error
that names the file and how to rebuild it. Every analysis reads eval JSONs only (`read_eval`), without lm-eval.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iftforget.evaluation import EvalSettings

# The per-item score each task's analysis uses, the first of these that the task reports (else its first metric):
# 1/0 correctness for knowledge probes, bits per byte for text.
PRIMARY_METRICS = ("exact_match", "acc", "bits_per_byte")
# Metrics that lm-eval keeps per item as (log-likelihood, length) and aggregates over the corpus.
CORPUS_METRICS = ("bits_per_byte", "byte_perplexity", "word_perplexity")
EVAL_FORMAT_VERSION = 1


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def item_records(samples: list[dict[str, Any]], metric_names: list[str], output_type: str) -> list[dict[str, Any]]:
    """Per-item records from lm-eval's logged samples: item id, target, prediction and per-item metric values."""
    records = []
    for sample in sorted(samples, key=lambda s: s["doc_id"]):
        doc = sample.get("doc", {})
        record: dict[str, Any] = {
            "doc_id": sample["doc_id"],
            "id": doc.get("id", str(sample["doc_id"])),
            "target": _json_safe(sample.get("target")),
        }
        for key in ("person", "attribute"):
            if key in doc:
                record[key] = doc[key]
        filtered = sample.get("filtered_resps")
        if output_type == "generate_until":
            record["prediction"] = filtered[0] if isinstance(filtered, list) and filtered else filtered
        elif output_type in ("multiple_choice", "loglikelihood"):
            record["loglikelihoods"] = [float(r[0]) if isinstance(r, (list, tuple)) else float(r) for r in filtered]
        for name in metric_names:
            if name not in sample:
                continue
            value = sample[name]
            if name in CORPUS_METRICS and isinstance(value, (list, tuple)):
                # lm-eval keeps (log-likelihood, length) per item; the corpus metric is computed from their sums.
                record["loglikelihood"] = float(value[0])
                record[f"{name}_length"] = int(value[1])
                units = value[1] * (math.log(2) if name == "bits_per_byte" else 1)
                record[name] = -float(value[0]) / units if name == "bits_per_byte" else math.exp(-value[0] / value[1])
            else:
                record[name] = _json_safe(value)
        records.append(record)
    return records


def eval_payload(
    results: dict[str, Any],
    task: str,
    model_path: str,
    model_info: dict[str, Any],
    settings: EvalSettings,
    seconds: float,
    evaluated_with: list[str] | None = None,
) -> dict[str, Any]:
    """Our eval JSON of one task from lm-eval's results: the task's metrics and one record per item.

    A group task (mmlu) has no config of its own: its items are those of its subtasks, each marked with it."""
    subtasks = sorted(_leaf_tasks(results, task))
    task_config = results["configs"][subtasks[0]]
    output_type = task_config["output_type"]
    metric_names = [m["metric"] for m in task_config.get("metric_list", [])]
    metrics: dict[str, float | None] = {}
    group_results = results["results"].get(task) or results.get("groups", {}).get(task, {})
    for key, value in group_results.items():
        if key == "alias":
            continue
        name, _, filter_name = key.partition(",")
        metrics[name] = _json_safe(value)
    items = []
    for subtask in subtasks:
        records = item_records(results["samples"][subtask], metric_names, output_type)
        if len(subtasks) > 1:
            for record in records:
                record["subtask"] = subtask
                record["id"] = f"{subtask}/{record['id']}"
        items.extend(records)
    primary = next((name for name in PRIMARY_METRICS if name in metric_names), metric_names[0] if metric_names else "")
    # lm-eval's count of the parameters of the model it loaded (tied embeddings once): the saved model's size.
    parameters = results.get("config", {}).get("model_num_parameters")
    return {
        "format_version": EVAL_FORMAT_VERSION,
        "task": task,
        "output_type": output_type,
        "model": {"path": model_path, **model_info, "num_parameters": parameters},
        "primary_metric": primary,
        "score": metrics.get(primary),
        "metrics": metrics,
        "n_items": len(items),
        "items": items,
        "harness": {
            "lm_eval_version": _lm_eval_version(),
            "num_fewshot": settings.num_fewshot,
            "batch_size": str(settings.batch_size),
            "dtype": settings.dtype,
            "device": settings.device,
            "trust_remote_code": settings.trust_remote_code,
            "seconds": round(seconds, 2),  # of the whole lm-eval run, every task of `evaluated_with` together
            "evaluated_with": evaluated_with or [task],
            "task_config": _json_safe(task_config),
            "subtasks": subtasks if len(subtasks) > 1 else [],
        },
    }


def _leaf_tasks(results: dict[str, Any], name: str) -> list[str]:
    """The tasks with items under `name`: itself, or the leaves below a (nested) group such as mmlu."""
    if name in results["configs"]:
        return [name]
    children = results.get("group_subtasks", {}).get(name)
    if not children:
        raise ValueError(f"lm-eval returned no results for {name!r}")
    return [leaf for child in children for leaf in _leaf_tasks(results, child)]


def _lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def read_eval(path: str | Path) -> dict[str, Any]:
    """Load an eval JSON, with an error that names the file and how to rebuild it when it is unusable."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"eval result {path} is missing; rebuild it with: snakemake {path}") from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"eval result {path} is corrupt ({error.msg} at line {error.lineno}); delete it and rebuild it with: "
            f"snakemake --forcerun {path}"
        ) from None
    required = ("task", "model", "primary_metric", "metrics", "items", "n_items")
    missing = [k for k in required if k not in data]
    if missing or len(data.get("items", [])) != data.get("n_items"):
        raise ValueError(
            f"eval result {path} is incomplete (missing {missing or 'items'}); rebuild it with: "
            f"snakemake --forcerun {path}"
        )
    return data
