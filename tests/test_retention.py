"""Retention (ift.keep_models, ift.keep_trainer_state, restore.keep_models): temp() models are deleted by Snakemake once
every job that reads them has run, a finished grid without them has nothing to do, and extending the grid later
costs what the schema says. The extensions are planned on a copy of the finished smoke run from which the folders
that temp() deletes are removed (what a run with these settings leaves: Snakemake plans from the files present and
its records, so a folder it deleted and one removed by hand plan alike)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import config_args, finished_run_copy, job_counts, merge_config, run_snakemake, smoke_config

pytestmark = pytest.mark.workflow

ANALYSIS = {"summarize": 1, "analyze": 1, "forgetting_table": 1, "plot_figures": 1, "all": 1}
# The last grid step's model and trainer state kept (so that appending a step is cheap), restored models deleted.
RETENTION = {"ift": {"keep_models": "last", "keep_trainer_state": "last"}, "restore": {"keep_models": "none"}}
RUN = "results/smoke/models/world-llama/rep0"
# What temp() deletes from the smoke grid (steps 5 and 10, budget 5) under RETENTION.
DELETED = {f"{RUN}/ift/qa-mix/seed0/step5", f"{RUN}/ift/qa-mix/seed0/step5.trainer-state",
           f"{RUN}/restored/qa-mix/seed0/step5/hold-bios/r5", f"{RUN}/restored/qa-mix/seed0/step10/hold-bios/r5",
           f"{RUN}/control/seed0/hold-bios/r5"}


def removed_by_snakemake(output: str) -> set[str]:
    return set(re.findall(r"Would remove temporary output (\S+)", output))


def test_snakemake_deletes_each_temp_model_once_the_jobs_that_read_it_have_run(tmp_path):
    assert smoke_config()["ift"]["steps"] == [5, 10], "DELETED lists the models of this grid"
    result = run_snakemake("-n", "--cores", "1", *config_args(tmp_path, RETENTION))
    assert removed_by_snakemake(result.stdout + result.stderr) == DELETED
    order = result.stdout.index
    # The IFT@5 model goes after every reader has run: its eval, its restoration and the next segment.
    removal = order(f"Would remove temporary output {RUN}/ift/qa-mix/seed0/step5\n")
    for reader in ("Evaluating world-llama/rep0/ift/qa-mix/seed0/step5 ",
                   "Restoring world-llama/rep0/ift/qa-mix/seed0/step5 ", "up to step 10\n"):
        assert order(reader) < removal, reader
    (tmp_path / "defaults").mkdir()
    defaults = run_snakemake("-n", "--cores", "1", *config_args(tmp_path / "defaults"))
    assert removed_by_snakemake(defaults.stdout + defaults.stderr) == set(), "by default every model is kept"


@pytest.fixture(scope="module")
def finished(smoke_run, tmp_path_factory) -> Path:
    return finished_run_copy(smoke_run, tmp_path_factory, "retention")


def without(finished: Path, tmp_path: Path, folders: set[str]) -> Path:
    """A copy of the finished run without `folders` (as temp() leaves it)."""
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir, symlinks=True)
    for folder in folders:
        shutil.rmtree(workdir / folder)
    return workdir


def planned(workdir: Path, overrides: dict) -> dict[str, int]:
    return job_counts(run_snakemake("-n", "--cores", "1", *config_args(workdir, overrides)).stdout)


# (change to the config, the jobs planned) with RETENTION, from a finished run that it has thinned out.
EXTENSIONS = {
    "nothing": ({}, {}),
    "appending a step": ({"ift": {"steps": [5, 10, 20], "total_steps": 20}},
                         {"ift_last": 1, "restore": 1, "eval": 2, **ANALYSIS}),
    "a seed": ({"seeds": [0, 1]},
               {"ift": 1, "ift_last": 1, "restore": 2, "restore_control": 1, "eval": 5, **ANALYSIS}),
    "a budget at the last step": ({"restore": {"sweep_budgets": [20], "sweep_steps": [10]}},
                                  {"restore": 1, "restore_control": 1, "eval": 2, **ANALYSIS}),
    "an extra budget at the last step": ({"restore": {"extra_budgets": [{"budget": 80, "steps": [10]}]}},
                                         {"restore": 1, "restore_control": 1, "eval": 2, **ANALYSIS}),
    # Needs IFT@5, which is gone: Snakemake retrains the chain and reruns every job downstream of it, so every
    # restoration and eval of the run except the base's and the control's.
    "inserting a step": ({"ift": {"steps": [5, 7, 10]}},
                         {"ift": 2, "ift_last": 1, "restore": 3, "eval": 6, **ANALYSIS}),
    # Every model is evaluated again: the IFT chain, the restorations and the control are rebuilt first.
    "a task": ({"eval": {"tasks": [*smoke_config()["eval"]["tasks"], "world_ppl_chat_transcript"]}},
               {"ift": 1, "ift_last": 1, "restore": 2, "restore_control": 1, "eval": 6, **ANALYSIS}),
}


@pytest.mark.parametrize("change", list(EXTENSIONS))
def test_extending_a_grid_whose_temp_models_are_gone_costs_what_the_schema_says(finished, tmp_path, change):
    overrides, expected = EXTENSIONS[change]
    counts = planned(without(finished, tmp_path, DELETED), merge_config(RETENTION, overrides))
    assert counts == expected, counts


def test_without_any_kept_ift_model_appending_a_step_retrains_the_run(finished, tmp_path):
    none = {"ift": {"keep_models": "none", "keep_trainer_state": "none"}, "restore": {"keep_models": "none"}}
    last = {f"{RUN}/ift/qa-mix/seed0/step10", f"{RUN}/ift/qa-mix/seed0/step10.trainer-state"}
    workdir = without(finished, tmp_path, DELETED | last)
    assert planned(workdir, none) == {}, "a finished run without its temp models has nothing to do"
    counts = planned(workdir, merge_config(none, {"ift": {"steps": [5, 10, 20], "total_steps": 20}}))
    assert counts == {"ift": 3, "restore": 3, "eval": 6, **ANALYSIS}, counts


def test_with_every_model_but_only_the_last_trainer_state_kept_appending_is_cheap_and_inserting_is_not(finished,
                                                                                                        tmp_path):
    """The paper preset's choice: IFT models kept, trainer state of the last step only, restored models deleted."""
    paper = {"ift": {"keep_models": "all", "keep_trainer_state": "last"}, "restore": {"keep_models": "none"}}
    restored = {folder for folder in DELETED if "/ift/" not in folder}
    workdir = without(finished, tmp_path, restored | {f"{RUN}/ift/qa-mix/seed0/step5.trainer-state"})
    assert planned(workdir, paper) == {}
    appended = planned(workdir, merge_config(paper, {"ift": {"steps": [5, 10, 20], "total_steps": 20}}))
    assert appended == {"ift_last": 1, "restore": 1, "eval": 2, **ANALYSIS}, appended
    inserted = planned(workdir, merge_config(paper, {"ift": {"steps": [5, 7, 10]}}))
    assert inserted == {"ift": 2, "ift_last": 1, "restore": 3, "eval": 6, **ANALYSIS}, inserted
