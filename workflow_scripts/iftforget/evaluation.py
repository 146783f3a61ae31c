"""Evaluation of one model on one task through lm-eval, written as one JSON with per-item records.

The world's probes are lm-eval task YAMLs in `lm_eval_tasks/` (see `iftforget.tasks`); any other task name is one
of lm-eval's own tasks (triviaqa, mmlu, ...) or one of the user's in `eval.include_path`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iftforget.chat import comparison_template, render_probe_file
from iftforget.hub import raise_if_task_not_prefetched
from iftforget.io import write_json_atomic
from iftforget.models import check_model_dir, load_tokenizer
from iftforget.library_patches import cheap_request_cache, without_environment_report
from iftforget.settings import from_block
from iftforget.tasks import is_chat_probe, is_world_task, lm_eval_task_manager, world_task_config

# The per-item score each task's analysis uses, the first of these that the task reports (else its first metric):
# 1/0 correctness for knowledge probes, bits per byte for text.
PRIMARY_METRICS = ("exact_match", "acc", "bits_per_byte")
# Metrics that lm-eval keeps per item as (log-likelihood, length) and aggregates over the corpus.
CORPUS_METRICS = ("bits_per_byte", "byte_perplexity", "word_perplexity")
EVAL_FORMAT_VERSION = 1


@dataclass(frozen=True)
class EvalSettings:
    """Harness settings shared by every model of a comparison (config block `eval`, and `trust_remote_code`)."""

    batch_size: int | str
    num_fewshot: int
    device: str
    dtype: str
    bootstrap_iters: int
    seed: int
    trust_remote_code: bool
    include_path: str
    limit: int
    attn_implementation: str  # training.attn_implementation: every model is loaded with the same kernel

    @classmethod
    def from_config(cls, block: dict[str, Any], trust_remote_code: bool) -> "EvalSettings":
        return from_block(cls, block, trust_remote_code=trust_remote_code)


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


def request_cache(cache_dir: str | Path, model_path: str, settings: EvalSettings) -> str:
    """The path lm-eval's request cache (`use_cache`, SQLite) takes for one model: in `cache_dir`, emptied first
    whenever the model or a setting that changes its answers is not the one the cache was filled with, so that a
    rebuilt model is never served the old model's answers. The cache lets a job that reruns (a task added, a job
    killed) skip every request it has answered before."""
    import shutil

    cache_dir = Path(cache_dir)
    fingerprint = {"model": model_path, "files": _model_files(model_path), "dtype": settings.dtype,
                   "device": settings.device, "batch_size": str(settings.batch_size)}
    stamp = cache_dir / "fingerprint.json"
    if stamp.is_file() and json.loads(stamp.read_text()) != fingerprint:
        print(f"[eval] {model_path} changed since its requests were cached: emptying {cache_dir}", flush=True)
        shutil.rmtree(cache_dir)
    if not stamp.is_file():
        shutil.rmtree(cache_dir, ignore_errors=True)
        write_json_atomic(stamp, fingerprint)
    return str(cache_dir / "requests")


def _model_files(model_path: str) -> list[list[Any]]:
    """Name, size and modification time of every file of a local model folder (empty for a hub id)."""
    folder = Path(model_path)
    if not folder.is_dir():
        return []
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(folder.iterdir()) if p.is_file()]


def evaluate(
    model_path: str,
    outputs: dict[str, str | Path],
    settings: EvalSettings,
    *,
    world_dir: str | Path | None = None,
    model_info: dict[str, Any] | None = None,
    cache: str | None = None,
    chat_format: tuple[str | Path, str] | None = None,
    rendered_dir: str | Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Evaluate `model_path` (a local directory or a hub id) on every task of `outputs` (task -> eval JSON) in one
    lm-eval run, loading the model once, and write each task's eval JSON. `cache` is the path of lm-eval's request
    cache for this model (`request_cache`). The world's chat probes are asked in the comparison's chat format,
    `chat_format` = (ift.chat_template, ift.chat_template_source) (see iftforget.chat), their rendered data written
    to `rendered_dir`."""
    check_model_dir(model_path)
    import lm_eval  # imported here: it is slow to import and only this function needs it

    tasks = list(outputs)
    if any(is_world_task(task) for task in tasks) and world_dir is None:
        raise ValueError(f"the world tasks of {tasks} need the world's data folder")
    specs = [world_task_config(task, world_dir) if is_world_task(task) else task for task in tasks]
    chat_probes = [spec for spec in specs if isinstance(spec, dict) and is_chat_probe(spec)]
    if chat_probes:
        if chat_format is None or rendered_dir is None:
            raise ValueError(f"the chat probes of {tasks} need the chat format and a folder for their prompts")
        _render_chat_probes(chat_probes, model_path, chat_format, Path(rendered_dir), settings.trust_remote_code)
    model_args: dict[str, Any] = {
        "pretrained": model_path,
        "dtype": settings.dtype,
        "device": settings.device,
        "trust_remote_code": settings.trust_remote_code,
        "attn_implementation": settings.attn_implementation,
    }
    external = [task for task in tasks if not is_world_task(task)]
    task_manager = lm_eval_task_manager(external, settings.include_path)
    started = time.perf_counter()
    try:
        with cheap_request_cache() as stores, without_environment_report():
            results = lm_eval.simple_evaluate(
                model="hf",
                model_args=model_args,
                tasks=specs,
                num_fewshot=settings.num_fewshot,
                batch_size=settings.batch_size,
                use_cache=cache,
                log_samples=True,
                bootstrap_iters=settings.bootstrap_iters,
                random_seed=settings.seed,
                numpy_random_seed=settings.seed,
                torch_random_seed=settings.seed,
                fewshot_random_seed=settings.seed,
                limit=settings.limit or None,
                task_manager=task_manager,
            )
    except Exception as error:
        # Offline, a task whose datasets were not prefetched fails deep in `datasets`: name it, and how to fetch it.
        if external:
            raise_if_task_not_prefetched(external, task_manager, error)
        raise
    seconds = time.perf_counter() - started
    for store in stores:
        print(f"[eval] request cache {store.filename}: {len(store)} answers, {store.written} of them new", flush=True)
    payloads = {}
    for task in tasks:
        payloads[task] = eval_payload(results, task, model_path, model_info or {}, settings, seconds, tasks)
        write_json_atomic(outputs[task], payloads[task])
    return payloads


def _render_chat_probes(specs: list[dict[str, Any]], model_path: str, chat_format: tuple[str | Path, str],
                        folder: Path, trust_remote_code: bool) -> None:
    """Point each chat probe's data at a copy whose prompts are rendered in the comparison's chat format."""
    tokenizer = load_tokenizer(model_path, trust_remote_code)
    template = comparison_template(tokenizer, *chat_format)
    for spec in specs:
        files = spec["dataset_kwargs"]["data_files"]
        for split, source in files.items():
            rendered = render_probe_file(source, folder / f"{spec['task']}-{split}.jsonl", tokenizer, template)
            files[split] = str(rendered.resolve())


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
