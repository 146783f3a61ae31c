"""Evaluation of one model on its tasks through lm-eval: the harness settings, lm-eval's request cache of the model,
the world's chat probes rendered in the comparison's chat format, and one lm-eval run for every task, each written as
its eval JSON (whose format is `iftforget.eval_json`'s).

The world's probes are lm-eval task YAMLs in `lm_eval_tasks/` (see `iftforget.tasks`); any other task name is one
of lm-eval's own tasks (triviaqa, mmlu, ...) or one of the user's in `eval.include_path`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iftforget.chat import comparison_template, render_probe_file
from iftforget.eval_json import eval_payload
from iftforget.hub import raise_if_task_not_prefetched
from iftforget.io import write_json_atomic
from iftforget.models import check_model_dir, load_tokenizer
from iftforget.library_patches import cheap_request_cache, without_environment_report
from iftforget.settings import from_block
from iftforget.tasks import is_chat_probe, is_world_task, lm_eval_task_manager, world_task_config


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
