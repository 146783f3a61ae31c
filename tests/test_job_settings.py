"""Every training and evaluation job gets its settings in two JSON arguments and nowhere else: --job (what changes its
result) and --execution (what only changes how it runs), each read back by its adapter's class (iftforget.jobs);
its other options are the files it reads and writes. A dry run of the smoke grid with every such rule in it (a second
replicate, an IFT variant, the last segment kept apart), the values checked against the paths each job builds.

Snakemake tracks --job and not --execution: on a grid whose jobs Snakemake recorded as finished, changing threads, the
batch size, logging or tracking plans nothing, and a changed learning rate plans its jobs again. The grid is finished
by `snakemake --touch` on empty outputs, which records each job's params as a run does, without training anything
(the same on a really finished run: tests/test_incremental.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import adapter_options, config_args, job_counts, run_snakemake, shell_commands, smoke_config
from iftforget.grid import Grid
from iftforget.jobs import EvalJob, IftJob, PretrainJob, RestoreJob

pytestmark = pytest.mark.workflow

OVERRIDES = {"replicates": [0, 1], "ift": {"keep_models": "last", "keep_trainer_state": "last",
                                            "variants": [{"name": "lr-low", "learning_rate": 1.0e-4}]}}
CLASSES = {"pretrain": PretrainJob, "ift": IftJob, "restore": RestoreJob, "eval": EvalJob}
# The options that name a job's files (Snakemake's input and output); an IFT segment after the first grid step also
# names the segment it resumes.
FILE_OPTIONS = {"pretrain": {"--tokenizer", "--corpus", "--out"}, "ift": {"--data", "--chat-template", "--out",
                                                                           "--state-out"},
                "restore": {"--corpus", "--out"}, "eval": {"--outputs", "--chat-template"}}
RESUME = {"--resume", "--resume-state"}


def test_every_training_and_eval_job_gets_its_settings_as_its_job_and_its_execution(tmp_path):
    result = run_snakemake("-n", "-p", "--cores", "2", *config_args(tmp_path, OVERRIDES))
    assert {"pretrain", "ift", "ift_last", "ift_variant", "ift_variant_last", "restore", "restore_control",
            "restore_variant", "eval"} <= set(job_counts(result.stdout)), job_counts(result.stdout)
    config = smoke_config(OVERRIDES)
    grid = Grid(config)
    models = f"{grid.layout.root}/models/"
    checked = {kind: 0 for kind in CLASSES}
    for options in map(adapter_options, shell_commands(result.stdout)):
        adapter = options.pop("adapter")
        if adapter not in CLASSES:
            continue
        job = CLASSES[adapter].from_json(json.dumps(options.pop("--job")), json.dumps(options.pop("--execution")))
        built = options["--out"] if adapter != "eval" else options["--outputs"][0].split("=")[1].rsplit("/", 1)[0]
        model = grid.axes.model_at(built.split("/models/" if adapter != "eval" else "/eval/", 1)[1])
        expected = FILE_OPTIONS[adapter] | (RESUME if adapter == "ift" and model.step > grid.axes.steps[0] else set())
        assert set(options) == expected, f"{adapter}: settings only in --job and --execution, not {set(options)}"
        base = f"{models}{grid.axes.base(model.base_model, model.replicate).path}"
        if adapter == "pretrain":
            assert (job.seed, job.steps) == (config["pretrain"]["seed"] + model.replicate, config["pretrain"]["steps"])
        elif adapter == "ift":
            assert (job.start_model, job.stop_step, job.seed) == (base, model.step, model.seed + 1000 * model.replicate)
        elif adapter == "restore":
            start = base if model.kind == "control" else models + grid.axes.ift(
                model.base_model, model.dataset, model.replicate, model.seed, model.step, model.variant).path
            assert (job.start_model, job.steps, job.seed) == (start, model.budget, model.seed + 1000 * model.replicate)
        else:
            assert (job.model, job.world_dir) == (f"{models}{model.path}", grid.files.world_dir(model.replicate))
            assert job.cache_dir.endswith(f"/cache/lm_eval/{model.path}")
        if adapter != "eval":
            assert job.run_settings["threads"] == config["training"]["threads"]
        checked[adapter] += 1
    assert all(checked.values()), checked


# The rules of the jobs that get a --job and an --execution, and the jobs before them; those that build a folder.
RECORDED = {"world", "tokenizer", "world_ift_data", "pretrain", "ift", "restore", "restore_control", "eval"}
FOLDERS = {"tokenizer", "pretrain", "ift", "restore", "restore_control"}
# What only changes how the jobs run: in their --execution.
HOW_THEY_RUN = {"training": {"threads": 2, "logging_steps": 1, "save_every_steps": 3, "report_to": "tensorboard"},
                "eval": {"batch_size": 4, "threads": 2}}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[Path, list[str]]:
    """A smoke grid whose training and eval jobs Snakemake recorded as finished (--touch on empty outputs), and the
    eval JSONs, which need every one of them."""
    workdir = tmp_path_factory.mktemp("recorded")
    summary = run_snakemake("--summary", "--cores", "1", *config_args(workdir)).stdout
    outputs = [line.split("\t")[:3:2] for line in summary.splitlines()[1:] if "\t" in line]
    targets = []
    for path, rule in outputs:
        if rule not in RECORDED:
            continue
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        (workdir / path).mkdir() if rule in FOLDERS else (workdir / path).touch()
        targets += [path] if rule == "eval" else []
    run_snakemake("--touch", "--cores", "1", *config_args(workdir), *targets)
    return workdir, targets


def planned(recorded: tuple[Path, list[str]], overrides: dict, name: str) -> dict[str, int]:
    workdir, targets = recorded
    return job_counts(run_snakemake("-n", "--cores", "2", *config_args(workdir, overrides, name), *targets).stdout)


def test_changing_how_jobs_run_plans_nothing_and_changing_a_result_setting_plans_its_jobs(recorded):
    assert planned(recorded, {}, "unchanged") == {}
    assert planned(recorded, HOW_THEY_RUN, "how-they-run") == {}, "--execution is not tracked"
    # The counterpart: a setting of the restorations' --job.
    changed = planned(recorded, {"restore": {"learning_rate": 1.0e-3}}, "restore-lr")
    assert changed == {"restore": 2, "restore_control": 1, "eval": 3}, changed
