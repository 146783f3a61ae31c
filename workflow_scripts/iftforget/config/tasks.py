"""Checks of eval.tasks that the JSON schema cannot express: a world task is one of the world's probes, and any
other name is an lm-eval task or group (of lm-eval itself or of eval.include_path), found by a fast text scan of the
task YAMLs before lm-eval's full task index is asked. Each error names the key and what is allowed.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from iftforget.schema import ConfigError
from iftforget.tasks import is_world_task, world_task_names


def check_world_tasks(tasks: list[str]) -> None:
    """Every task named as a world task (world_*) is one of the world's probes (lm_eval_tasks/)."""
    world_tasks = world_task_names()
    for task in tasks:
        if is_world_task(task) and task not in world_tasks:
            raise ConfigError(f"eval.tasks: unknown world task {task!r}; the world's tasks are {world_tasks}")


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
    rejected, so a valid name is never refused and a run starts fast. It reads lm-eval's files: run when a run
    starts (iftforget.config.check_data), not while the DAG is built."""
    external = {t for t in tasks if not is_world_task(t)}
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
