"""The registry of the world's lm-eval tasks (the probes): their YAMLs in `lm_eval_tasks/`, which world file each
reads, and how a task name is told apart from one of lm-eval's own tasks.

Plain Python without heavy imports (the Snakefile and the config check use it).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

WORKFLOW_DIR = Path(__file__).resolve().parents[2]
TASKS_DIR = WORKFLOW_DIR / "lm_eval_tasks"
WORLD_TASK_PREFIX = "world_"


def is_world_task(task: str) -> bool:
    """A task of the synthetic world (a YAML in lm_eval_tasks/) rather than one of lm-eval's or the user's."""
    return task.startswith(WORLD_TASK_PREFIX)


def world_task_names() -> list[str]:
    return sorted(path.stem for path in TASKS_DIR.glob(f"{WORLD_TASK_PREFIX}*.yaml"))


def world_task_config(task: str, world_dir: str | Path | None = None) -> dict[str, Any]:
    """The YAML of a world probe; with `world_dir`, its data files are resolved to absolute paths there, so that
    lm-eval finds them from any working directory."""
    path = TASKS_DIR / f"{task}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown world task {task!r}; the world's tasks are {world_task_names()}")
    config = _load_task_yaml(path)
    if world_dir is not None:
        files = config["dataset_kwargs"]["data_files"]
        for split, name in files.items():
            data = (Path(world_dir) / name).resolve()
            if not data.is_file():
                raise FileNotFoundError(f"{task}: probe file {data} does not exist (rebuild the world data)")
            files[split] = str(data)
    return config


def is_chat_probe(config: dict[str, Any]) -> bool:
    """A world probe asked in the chat format, whose prompts are rendered with the model's chat template."""
    return bool(config.get("metadata", {}).get("chat_probe"))


# Kinds of lm-eval index entries that stand alone: a YAML or Python task. A group or tag may name built-in tasks.
STANDALONE_TASK_KINDS = ("TASK", "PY_TASK")


def defined_standalone(tasks: Iterable[str], index: Mapping[str, Any]) -> bool:
    """Whether every name in `tasks` is a task (not a group or tag) of `index`, an lm-eval TaskManager's
    `task_index` (name -> entry with a `kind`)."""
    return all(task in index and index[task].kind.name in STANDALONE_TASK_KINDS for task in tasks)


def lm_eval_task_manager(tasks: Iterable[str], include_path: str = "") -> Any:
    """lm-eval's TaskManager for `tasks`, names of lm-eval's own tasks or of the user's in `include_path` (world
    tasks are passed to lm-eval as configs and need none). Indexing lm-eval's ~15,000 built-in tasks and groups takes
    8 s on our faster 2-core machine, in every eval and prefetch job; when every name is a task defined in
    `include_path`, the index of that folder alone serves and the built-in ones are left out."""
    from lm_eval.tasks import TaskManager

    tasks = [task for task in tasks if not is_world_task(task)]
    if not tasks or include_path:
        own = TaskManager(include_path=include_path or None, include_defaults=False)
        if defined_standalone(tasks, own.task_index):
            return own
    return TaskManager(include_path=include_path or None)


def _load_task_yaml(path: Path) -> dict[str, Any]:
    """A task YAML as lm-eval reads it: `!function module.name` is the function `name` of `module.py` beside it."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def function(loader: yaml.Loader, node: yaml.Node) -> Any:
        module_name, _, name = loader.construct_scalar(node).rpartition(".")
        spec = importlib.util.spec_from_file_location(module_name, path.parent / f"{module_name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, name)

    Loader.add_constructor("!function", function)
    return yaml.load(path.read_text(), Loader=Loader)  # noqa: S506 (a SafeLoader with one more tag)
