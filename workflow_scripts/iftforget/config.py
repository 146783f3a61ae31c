"""Checks of a config that its JSON schema cannot express, run before any job (each error names the key)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from iftforget.world import WorldConfig, check_world_config

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
TASKS_DIR = Path(__file__).resolve().parents[2] / "lm_eval_tasks"
RESERVED_DATASET_NAMES = ("base",)


class ConfigError(ValueError):
    """A config value that cannot run; the message names the key and what is allowed."""


def looks_like_local_path(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~")) or source.endswith((".json", ".jsonl"))


def check_source(key: str, source: str, keyword: str) -> None:
    """A source is the keyword, an existing local path, or something shaped like a hub id."""
    if source == keyword:
        return
    if looks_like_local_path(source) or Path(source).exists():
        if not Path(source).expanduser().exists():
            raise ConfigError(f"{key} = {source!r}: no such file or directory (use {keyword!r}, a hub id or an existing path)")
        return
    if not _HUB_ID.match(source):
        raise ConfigError(f"{key} = {source!r} is neither {keyword!r}, an existing path nor a hub id like org/name")


def _unique(key: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{key}: the name {name!r} is used twice; names must be unique")
        seen.add(name)


def check_config(config: dict[str, Any]) -> None:
    """Raise ConfigError for the first problem found; the schema has already checked types and ranges."""
    steps = list(config["ift"]["steps"])
    if steps != sorted(steps) or len(set(steps)) != len(steps):
        raise ConfigError(f"ift.steps = {steps} must be strictly ascending without duplicates")
    total = config["ift"]["total_steps"]
    if steps[-1] > total:
        raise ConfigError(f"ift.steps has step {steps[-1]} beyond ift.total_steps = {total}; allowed steps are 1..{total}")

    try:
        check_world_config(WorldConfig.from_dict(config["world"]))
    except ValueError as error:
        raise ConfigError(str(error)) from None

    _unique("base_models", [m["name"] for m in config["base_models"]])
    _unique("ift_datasets", [d["name"] for d in config["ift_datasets"]])
    for i, model in enumerate(config["base_models"]):
        check_source(f"base_models[{i}].source", model["source"], "pretrain")
    for i, dataset in enumerate(config["ift_datasets"]):
        if dataset["name"] in RESERVED_DATASET_NAMES or dataset["name"].startswith("base-restored-"):
            raise ConfigError(f"ift_datasets[{i}].name = {dataset['name']!r} is reserved for the base model's paths")
        check_source(f"ift_datasets[{i}].source", dataset["source"], "world")
    check_source("restore_corpus.source", config["restore_corpus"]["source"], "world")

    shape = config["pretrain"]["model"]
    if shape["hidden_size"] % shape["num_attention_heads"]:
        raise ConfigError(
            f"pretrain.model.num_attention_heads = {shape['num_attention_heads']} must divide "
            f"pretrain.model.hidden_size = {shape['hidden_size']}"
        )
    if shape["num_attention_heads"] % shape["num_key_value_heads"]:
        raise ConfigError(
            f"pretrain.model.num_key_value_heads = {shape['num_key_value_heads']} must divide "
            f"pretrain.model.num_attention_heads = {shape['num_attention_heads']}"
        )
    if any(m["source"] == "pretrain" for m in config["base_models"]):
        if config["training"]["max_length"] > shape["max_position_embeddings"]:
            raise ConfigError(
                f"training.max_length = {config['training']['max_length']} exceeds "
                f"pretrain.model.max_position_embeddings = {shape['max_position_embeddings']}"
            )

    template = Path(config["ift"]["chat_template"])
    if not template.exists() and not (TASKS_DIR.parent / template).exists():
        raise ConfigError(f"ift.chat_template = {str(template)!r}: no such file (relative to the working directory or the workflow)")

    world_tasks = sorted(p.stem for p in TASKS_DIR.glob("world_*.yaml"))
    for task in config["eval"]["tasks"]:
        if task.startswith("world_") and task not in world_tasks:
            raise ConfigError(f"eval.tasks: unknown world task {task!r}; the world's tasks are {world_tasks}")
    if config["training"]["device"] == "cpu" and config["training"]["precision"] == "fp16":
        raise ConfigError("training.precision = 'fp16' needs training.device = 'cuda'; use fp32 or bf16 on cpu")


def _declared_in_yaml(names: set[str], folders: list[Path]) -> set[str]:
    """The names among `names` that some task YAML declares as its task, group or tag (a text scan: fast)."""
    found: set[str] = set()
    for folder in folders:
        for path in folder.rglob("*.yaml"):
            text = path.read_text(errors="ignore")
            for name in names - found:
                if name in text and re.search(
                    rf"^\s*(?:(?:task|group|tag)\s*:\s*|-\s+)['\"]?{re.escape(name)}['\"]?\s*$", text, re.MULTILINE
                ):
                    found.add(name)
            if found == names:
                return found
    return found


def check_lm_eval_tasks(tasks: list[str], include_path: str = "") -> None:
    """Names that are not world tasks must be lm-eval tasks or groups. A text scan of the task YAMLs finds known
    names in a second; only a name it misses pays for lm-eval's full task index (tens of seconds) before it is
    rejected, so a valid name is never refused and a dry run stays fast."""
    external = {t for t in tasks if not t.startswith("world_")}
    if not external:
        return
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("eval.tasks names lm-eval tasks but lm-eval is not installed")
    folders = [Path(list(spec.submodule_search_locations)[0]) / "tasks"]
    if include_path:
        if not Path(include_path).is_dir():
            raise ConfigError(f"eval.include_path = {include_path!r} is not a folder")
        folders.insert(0, Path(include_path))
    missing = external - _declared_in_yaml(external, folders)
    if not missing:
        return
    from lm_eval.tasks import TaskManager

    known = set(TaskManager(include_path=include_path or None).all_tasks)
    unknown = sorted(missing - known)
    if unknown:
        raise ConfigError(f"eval.tasks: {unknown} are neither world tasks nor lm-eval tasks (see `lm-eval ls tasks`)")
