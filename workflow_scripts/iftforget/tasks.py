"""The registry of the world's lm-eval tasks (the probes): their YAMLs in `lm_eval_tasks/`, which world file each
reads, and how a task name is told apart from one of lm-eval's own tasks.

Plain Python without heavy imports (the Snakefile and the config check use it).
"""

from __future__ import annotations

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
    import yaml

    path = TASKS_DIR / f"{task}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown world task {task!r}; the world's tasks are {world_task_names()}")
    config = yaml.safe_load(path.read_text())
    if world_dir is not None:
        files = config["dataset_kwargs"]["data_files"]
        for split, name in files.items():
            data = (Path(world_dir) / name).resolve()
            if not data.is_file():
                raise FileNotFoundError(f"{task}: probe file {data} does not exist (rebuild the world data)")
            files[split] = str(data)
    return config


def world_files_of_task(task: str) -> list[str]:
    """The names of the world files (WORLD_FILES) a world task reads."""
    files = world_task_config(task)["dataset_kwargs"]["data_files"].values()
    return sorted(Path(name).stem for name in files)
