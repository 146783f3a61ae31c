"""Extending a finished grid costs only the new work: the jobs Snakemake plans for each change of the config, counted
by rule on a copy of a finished smoke run; each check also names work that must not rerun. Three changes (appending a
grid step, a restoration arm, an IFT variant) are run for real, and every artifact that existed before is left as it
was (same file, bytes and time); and the chain of IFT jobs that built the last grid step ends at the weights of one
straight IFT job to that step."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import config_args, finished_run_copy, evaluated_models_count, job_counts, run_snakemake, smoke_config
from iftforget.grid import Grid

pytestmark = pytest.mark.workflow

ANALYSIS = {"analyze": 1, "forgetting_table": 1, "plot_figures": 1, "all": 1}
UPSTREAM = ("world", "tokenizer", "world_ift_data", "pretrain")


@pytest.fixture(scope="module")
def finished(smoke_run, tmp_path_factory) -> Path:
    return finished_run_copy(smoke_run, tmp_path_factory, "incremental")


def planned(workdir: Path, overrides: dict, name: str) -> dict[str, int]:
    result = run_snakemake("-n", "--cores", "2", *config_args(workdir, overrides, name=name))
    return job_counts(result.stdout)


def smoke_steps() -> list[int]:
    return smoke_config()["ift"]["steps"]


def models_count() -> int:
    return evaluated_models_count(smoke_config())


def test_appending_a_step_plans_its_segment_restoration_and_evals_only(finished):
    steps = smoke_steps()
    new = steps[-1] * 2
    counts = planned(finished, {"ift": {"steps": [*steps, new], "total_steps": new}}, "append")
    assert counts == {"ift": 1, "restore": 1, "eval": 2, "summarize": 1, **ANALYSIS}, counts


def test_inserting_a_step_retrains_only_the_segments_after_it(finished):
    steps = smoke_steps()
    inserted = (steps[0] + steps[1]) // 2
    counts = planned(finished, {"ift": {"steps": [steps[0], inserted, *steps[1:]]}}, "insert")
    later = len(steps) - 1  # every step after the inserted one resumes from a moved point
    assert counts["ift"] == 1 + later and counts["restore"] == 1 + later and counts["eval"] == 2 * (1 + later)
    assert not set(counts) & {*UPSTREAM, "restore_control"}, counts


def test_raising_total_steps_with_a_schedule_that_depends_on_it_retrains_every_segment(finished):
    """The counterpart of appending: with a cosine schedule the learning rate at every step depends on the run's
    length, so every segment is retrained (the check above can fail)."""
    base = {"schedule": "cosine", "total_steps": smoke_steps()[-1]}
    assert "ift" in planned(finished, {"ift": base}, "cosine")  # the schedule itself changed: everything retrains
    steps = smoke_steps()
    counts = planned(finished, {"ift": base | {"steps": [*steps, steps[-1] * 2], "total_steps": steps[-1] * 2}},
                     "cosine-longer")
    assert counts["ift"] == len(steps) + 1


# The smoke grid has two steps, one seed, one dataset and one budget; each change adds one branch of it.
BRANCHES = {
    "seed": ({"seeds": [0, 1]}, {"ift": 2, "restore": 2, "restore_control": 1, "eval": 5}),
    "dataset": ({"ift_datasets": [{"name": "qa-mix", "source": "world", "generic_fraction": 0.5},
                                  {"name": "format-only", "source": "world", "generic_fraction": 1.0}]},
                {"world_ift_data": 1, "ift": 2, "restore": 2, "eval": 4}),
    "budget": ({"restore": {"sweep_budgets": [20]}}, {"restore": 2, "restore_control": 1, "eval": 3}),
    "base model": ({"base_models": [{"name": "world-llama", "source": "pretrain"},
                                    {"name": "second-llama", "source": "pretrain"}]},
                   {"pretrain": 1, "ift": 2, "restore": 2, "restore_control": 1, "eval": 6, "contrast_table": 1}),
    # Its own size and pre-training: the world and tokenizer of the replicate are shared, the rest is its own.
    "base model of another size": ({"base_models": [{"name": "world-llama", "source": "pretrain"},
                                                    {"name": "wide-llama", "source": "pretrain", "steps": 30,
                                                     "learning_rate": 2.0e-3,
                                                     "model": {"hidden_size": 64, "intermediate_size": 128}}]},
                                   {"pretrain": 1, "ift": 2, "restore": 2, "restore_control": 1, "eval": 6,
                                    "contrast_table": 1}),
}


@pytest.mark.parametrize("branch", sorted(BRANCHES))
def test_adding_a_branch_plans_only_the_new_branch(finished, branch):
    assert smoke_steps() == [5, 10] and smoke_config()["seeds"] == [0], "the counts below are those of this grid"
    change, expected = BRANCHES[branch]
    counts = planned(finished, change, "branch")
    assert counts == {**expected, "summarize": 1, **ANALYSIS}, counts


def test_a_base_model_given_the_pretrain_blocks_own_values_plans_nothing(finished):
    """A base model's own pre-training keys are merged over the pretrain block: set to the block's values (or not
    set, as in the finished run) they give the same jobs with the same params, so a finished run is not rerun."""
    pretrain = smoke_config()["pretrain"]
    same = {"name": "world-llama", "source": "pretrain", "steps": pretrain["steps"],
            "learning_rate": pretrain["learning_rate"], "model": {"hidden_size": pretrain["model"]["hidden_size"]}}
    assert planned(finished, {}, "unchanged") == {}
    assert planned(finished, {"base_models": [same]}, "same-values") == {}
    # The counterpart: a value of its own that differs reruns its pre-training and everything after it.
    counts = planned(finished, {"base_models": [same | {"steps": pretrain["steps"] + 1}]}, "own-steps")
    assert counts["pretrain"] == 1 and counts["eval"] == models_count(), counts


def test_adding_a_task_reevaluates_each_model_once_and_removing_one_only_the_analysis(finished):
    tasks = smoke_config()["eval"]["tasks"]
    added = planned(finished, {"eval": {"tasks": [*tasks, "world_ppl_chat_transcript"]}}, "task-added")
    assert added == {"eval": models_count(), "summarize": 1, **ANALYSIS}, added
    removed = planned(finished, {"eval": {"tasks": tasks[:-1]}}, "task-removed")
    assert removed == {"summarize": 1, **ANALYSIS}, removed


def test_changing_an_analysis_option_plans_only_the_analysis(finished):
    counts = planned(finished, {"analysis": {"bootstrap_resamples": 2000, "equivalence_margin": {"default": 0.03}}},
                     "analysis")
    assert counts == ANALYSIS, counts


def checksums(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every result file's checksum, inode and modification time: a deterministic job that reran writes the same
    bytes, but into a new file (inode) or at a new time."""
    files = [path for path in sorted((root / "results").rglob("*")) if path.is_file()]
    return {str(path.relative_to(root)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_ino,
                                          path.stat().st_mtime_ns) for path in files}

REWRITTEN_BY_AN_EXTENSION = ("results/smoke/analysis/forgetting", "results/smoke/analysis/pooled.",
                             "results/smoke/figures/", "results/smoke/summary/", "results/smoke/logs/",
                             "results/smoke/benchmarks/", "results/smoke/cache/")


def run_extension(finished: Path, tmp_path: Path, overrides: dict, name: str, expected: dict[str, int]) -> Path:
    """A copy of the finished run extended by `overrides` for real: the dry run plans `expected`, the run runs it,
    and every earlier artifact but the tables, figures, summary, logs, benchmarks and caches is as it was."""
    workdir = tmp_path / name
    shutil.copytree(finished, workdir, symlinks=True)
    assert planned(workdir, overrides, name) == expected
    before = checksums(workdir)
    result = run_snakemake("--cores", "2", *config_args(workdir, overrides, name=name))
    assert job_counts(result.stdout + result.stderr) == expected
    after = checksums(workdir)
    changed = [path for path, digest in before.items()
               if not path.startswith(REWRITTEN_BY_AN_EXTENSION) and after[path] != digest]
    assert changed == [], changed
    return workdir



def test_appending_a_step_for_real_leaves_every_earlier_artifact_as_it_was(finished, tmp_path):
    workdir = tmp_path / "append"
    shutil.copytree(finished, workdir, symlinks=True)
    before = checksums(workdir)
    steps = smoke_steps()
    overrides = {"ift": {"steps": [*steps, steps[-1] * 2], "total_steps": steps[-1] * 2}}
    result = run_snakemake("--cores", "2", *config_args(workdir, overrides, name="append"))
    after = checksums(workdir)
    # What the analysis writes is redone (it covers the new step); the models, evals and world are not touched.
    rewritten = ("results/smoke/analysis/", "results/smoke/figures/", "results/smoke/summary/", "results/smoke/logs/",
                 "results/smoke/benchmarks/", "results/smoke/cache/")
    kept = {path: digest for path, digest in before.items() if not path.startswith(rewritten)}
    changed = [path for path, digest in kept.items() if after.get(path) != digest]
    assert changed == [], changed
    assert len(after) > len(before), "the new step's models and evals were added"
    assert job_counts(result.stdout + result.stderr) == {"ift": 1, "restore": 1, "eval": 2, "summarize": 1,
                                                         **ANALYSIS}
    config = yaml.safe_load((workdir / "append.yaml").read_text())
    assert config["ift"]["steps"][-1] == steps[-1] * 2


def test_adding_a_restoration_arm_runs_only_its_corpus_restorations_controls_evals_and_the_analysis(finished,
                                                                                                    tmp_path):
    """A restoration arm layered on a finished run (as presets/confirmatory-fresh-arm.yaml on the confirmatory
    study): its corpus, IFT@k of every step and the control restored on it, their evals, its analysis job and the
    tables and figures; no world, pre-training, IFT, restoration or eval of the main corpus, not even its analysis
    job. Run for real, it leaves every earlier artifact as it was and adds the arm's rows to the tables."""
    overrides = {"restore": {"arms": [{"name": "fresh-bios", "source": "world-fresh"}]}}
    steps = len(smoke_steps())
    expected = {"world_fresh_corpus": 1, "restore": steps, "restore_control": 1, "eval": steps + 1, "summarize": 1,
                "analyze_arm": 1, **{rule: count for rule, count in ANALYSIS.items() if rule != "analyze"}}
    workdir = run_extension(finished, tmp_path, overrides, "arm", expected)
    corpus = workdir / "results/smoke/world/rep0/restore-fresh-bios.jsonl"
    assert len(corpus.read_text().splitlines()) == len((workdir / "results/smoke/world/rep0/restore.jsonl")
                                                        .read_text().splitlines())
    pooled = pd.read_csv(workdir / "results/smoke/analysis/pooled.csv")
    assert list(dict.fromkeys(pooled["corpus"])) == ["hold-bios", "fresh-bios"]
    assert (workdir / "results/smoke/figures/world-llama/qa-mix/pooled/corpora.png").is_file()


def test_adding_an_ift_variant_runs_only_its_segments_restorations_evals_and_the_analysis(finished, tmp_path):
    """An IFT recipe layered on a finished run (ift.variants): its IFT segments, their restorations on the main
    corpus, their evals, its analysis job and the tables and figures; nothing of the ift block's recipe (no world,
    pre-training, IFT, restoration, control or eval, not even its analysis job). Run for real, it leaves every
    earlier artifact as it was, its segments train with the run's seed and their own learning rate and schedule, and
    the tables and one figure set the recipes side by side."""
    overrides = {"ift": {"variants": [{"name": "lr-low", "learning_rate": 1.0e-4, "schedule": "cosine"}]}}
    steps = smoke_steps()
    expected = {"ift_variant": len(steps), "restore_variant": len(steps), "eval": 2 * len(steps), "summarize": 1,
                "analyze_variant": 1, "contrast_table": 1,
                **{rule: count for rule, count in ANALYSIS.items() if rule != "analyze"}}
    workdir = run_extension(finished, tmp_path, overrides, "variant", expected)
    for table in ("forgetting", "pooled"):
        rows = pd.read_csv(workdir / f"results/smoke/analysis/{table}.csv")
        assert list(dict.fromkeys(rows["ift_variant"])) == ["default", "lr-low"], table
    figures = workdir / "results/smoke/figures/world-llama/qa-mix"
    assert (figures / "pooled/ift-variants.png").is_file() and (figures / "lr-low/pooled/headline.png").is_file()
    logs = workdir / "results/smoke/logs/ift/world-llama/rep0/ift/qa-mix"
    default, variant = (json.loads(re.search(r"^\[ift\] steps .* settings (\{.*\})$", (logs / run).read_text(),
                                             flags=re.MULTILINE).group(1))
                        for run in (f"seed0/step{steps[-1]}.log", f"lr-low/seed0/step{steps[-1]}.log"))
    assert variant == default | {"learning_rate": 1.0e-4, "schedule": "cosine"}, "the same seed and other keys"


def test_a_rerun_evaluation_is_answered_from_the_models_request_cache(finished, tmp_path):
    """Rerunning a model's eval job (here: one of its eval JSONs deleted) asks the model nothing it has answered
    before: lm-eval's request cache of that model answers every request."""
    workdir = tmp_path / "rerun"
    shutil.copytree(finished, workdir, symlinks=True)
    grid = Grid(smoke_config())
    model = grid.axes.models()[-1]
    deleted = grid.files.eval_file(model, grid.axes.tasks[0])
    (workdir / deleted).unlink()
    result = run_snakemake(deleted, "--cores", "1", *config_args(workdir))  # the eval job only, not the analysis
    assert job_counts(result.stdout + result.stderr).get("eval") == 1
    log = (workdir / grid.layout.log("eval", model.path)).read_text()
    remaining = re.findall(r"Cached requests: (\d+), Requests remaining: (\d+)", log)
    assert remaining and all(int(cached) > 0 and int(left) == 0 for cached, left in remaining), log[-3000:]
    # The cache was our store (iftforget.request_store), and the rerun wrote nothing to it.
    assert re.search(r"\[eval\] request cache \S+: [1-9]\d* answers, 0 of them new", log), log[-3000:]


def test_the_request_cache_is_emptied_when_the_model_is_rebuilt(tmp_path):
    from iftforget.evaluation import EvalSettings, request_cache
    from conftest import defaults

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    settings = EvalSettings.from_config(defaults("eval") | {"attn_implementation": "sdpa"}, False)
    cache = tmp_path / "cache"
    request_cache(cache, str(model), settings)
    (cache / "requests_rank0.db").write_bytes(b"answers")
    request_cache(cache, str(model), settings)
    assert (cache / "requests_rank0.db").exists(), "the same model keeps its answers"
    (model / "model.safetensors").write_bytes(b"other weights")  # rebuilt
    request_cache(cache, str(model), settings)
    assert not (cache / "requests_rank0.db").exists(), "a rebuilt model is never served the old model's answers"


def test_the_chain_of_ift_jobs_ends_at_the_weights_of_one_straight_ift_job(finished, tmp_path):
    """IFT@k of the smoke run was built by one job per grid step, each resuming the one before; the same rule run
    once, straight from the base model to k (a grid with k as its only step), gives the same weights."""
    from transformers import AutoModelForCausalLM

    workdir = tmp_path / "straight"
    shutil.copytree(finished, workdir, symlinks=True)
    steps = smoke_steps()
    assert len(steps) > 1, "the smoke grid's IFT@k is a chain of several jobs"
    grid = Grid(smoke_config())
    last = next(ref for ref in grid.axes.models() if ref.kind == "ift" and ref.step == steps[-1])
    folder = grid.layout.path("model", model=last)
    chained = AutoModelForCausalLM.from_pretrained(workdir / folder).state_dict()
    result = run_snakemake(folder, "--cores", "2", *config_args(workdir, {"ift": {"steps": [steps[-1]]}}, "one"),
                           "--forcerun", "ift")
    assert job_counts(result.stdout + result.stderr) == {"ift": 1}, "one job, from the base model to k"
    straight = AutoModelForCausalLM.from_pretrained(workdir / folder).state_dict()
    assert chained.keys() == straight.keys()
    for name in chained:
        torch.testing.assert_close(straight[name], chained[name], rtol=0, atol=1e-6, msg=f"{name} differs")
