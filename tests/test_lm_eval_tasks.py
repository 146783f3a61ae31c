"""Which lm-eval task index an eval or prefetch job builds: the user's folder alone when it defines every task asked
for (lm-eval's ~15,000 built-in tasks take seconds to index in every job), lm-eval's own tasks whenever a name may
need them."""

from __future__ import annotations

from pathlib import Path

import pytest

from iftforget.tasks import defined_standalone, lm_eval_task_manager

pytestmark = pytest.mark.unit

BUILT_IN_TASK = "hellaswag"


@pytest.fixture
def own_tasks(tmp_path: Path) -> Path:
    """A user's task folder (eval.include_path): one task, and a group that names it and a built-in task."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "my_probe.yaml").write_text(
        "task: my_probe\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n  data_files:\n    test: probe.jsonl\n"
        "test_split: test\n"
        "output_type: loglikelihood_rolling\n"
        "doc_to_text: ''\n"
        "doc_to_target: text\n"
        "metric_list:\n  - metric: bits_per_byte\n"
    )
    (folder / "my_group.yaml").write_text(f"group: my_group\ntask: [my_probe, {BUILT_IN_TASK}]\n")
    return folder


def test_tasks_of_the_users_folder_are_served_without_lm_evals_own_index(own_tasks: Path) -> None:
    manager = lm_eval_task_manager(["my_probe", "world_completion"], str(own_tasks))
    assert "my_probe" in manager.all_tasks
    assert BUILT_IN_TASK not in manager.all_tasks


def test_groups_and_unknown_names_are_not_standalone(own_tasks: Path) -> None:
    index = lm_eval_task_manager(["my_probe"], str(own_tasks)).task_index
    assert defined_standalone(["my_probe"], index)
    assert not defined_standalone(["my_group"], index)  # its built-in member needs lm-eval's index
    assert not defined_standalone(["my_probe", BUILT_IN_TASK], index)


def test_a_built_in_task_gets_lm_evals_own_index(own_tasks: Path) -> None:
    manager = lm_eval_task_manager(["my_probe", BUILT_IN_TASK], str(own_tasks))
    assert {"my_probe", BUILT_IN_TASK} <= set(manager.all_tasks)
    assert "my_group" in manager.all_tasks
