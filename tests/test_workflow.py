"""The workflow end to end: lint, the default grid's DAG, and the smoke grid run for real."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from conftest import REPO, config_args, job_counts, run_snakemake, smoke_config
from iftforget.grid import Grid
from iftforget.io import read_jsonl

pytestmark = pytest.mark.workflow


def test_default_grid_dry_run_lists_every_job(tmp_path):
    result = run_snakemake("-n", "--cores", "2", "--configfile", str(REPO / "config.yaml"),
                           "--directory", str(tmp_path))
    counts = job_counts(result.stdout)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    k = len(config["ift"]["steps"])
    assert counts["world"] == counts["tokenizer"] == counts["pretrain"] == counts["world_ift_data"] == 1
    assert counts["ift"] == k
    assert counts["restore"] == k and counts["restore_control"] == 1
    assert counts["eval"] == 1 + 1 + 2 * k, "one job per model (base, control, IFT@k, restored@k), every task in it"
    assert counts["summarize"] == counts["analyze"] == 1


def test_the_base_models_target_builds_and_evaluates_the_base_models_alone(tmp_path):
    """`snakemake base_models` (a calibration of the pre-training): each base model of each replicate, pre-trained
    here with its own settings, and its evals; no IFT, restoration or analysis."""
    overrides = {"replicates": [0, 1], "base_models": [{"name": "narrow", "source": "pretrain"},
                                                      {"name": "wide", "source": "pretrain", "steps": 30,
                                                       "model": {"hidden_size": 64}}]}
    result = run_snakemake("base_models", "-n", "--cores", "2", *config_args(tmp_path, overrides))
    assert job_counts(result.stdout) == {"world": 2, "tokenizer": 2, "pretrain": 4, "eval": 4, "base_models": 1}
    planned = set(re.findall(r"eval/(\w+/rep\d+/\w+)/", result.stdout))
    assert planned == {f"{base}/rep{replicate}/base" for base in ("narrow", "wide") for replicate in (0, 1)}


def test_smoke_grid_builds_every_artifact(smoke_run):
    config = smoke_config()
    grid = Grid(config)
    root = smoke_run
    for path in [grid.files.world_file(n, 0) for n in ("people", "pretrain", "qa", "generic", "restore", "completion")]:
        assert (root / path).exists(), path
    assert (root / grid.layout.path("tokenizer", replicate=0) / "tokenizer.json").is_file()
    model_dirs = sorted({grid.layout.path("model", model=ref) for ref in grid.axes.models()})
    assert len(model_dirs) == 2 + 2 * len(config["ift"]["steps"])
    for model_dir in model_dirs:
        directory = root / model_dir
        model = AutoModelForCausalLM.from_pretrained(directory)
        tokenizer = AutoTokenizer.from_pretrained(directory)
        assert model.num_parameters() > 0
        assert tokenizer.chat_template and (directory / "model.safetensors").is_file()
        assert not list(directory.parent.glob("*.inprogress")), "no in-progress folder left behind"


def test_smoke_eval_jsons_hold_every_task_with_per_item_records(smoke_run):
    config = smoke_config()
    grid = Grid(config)
    n_probe_items = len(read_jsonl(smoke_run / grid.files.world_file("completion", 0)))
    n_format_items = len(read_jsonl(smoke_run / grid.files.world_file("ppl_pretrain", 0)))
    for ref in grid.axes.models():
        for task in config["eval"]["tasks"]:
            result = json.loads((smoke_run / grid.files.eval_file(ref, task)).read_text())
            assert result["task"] == task
            assert result["model"]["kind"] == ref.kind and result["model"]["step"] == ref.step
            expected = n_format_items if task.startswith("world_ppl") else n_probe_items
            assert result["n_items"] == len(result["items"]) == expected
            primary = result["primary_metric"]
            assert all(primary in item for item in result["items"])
            items = result["items"]
            if primary == "bits_per_byte":  # a corpus metric: total nats over total bytes, in bits
                nats = -sum(item["loglikelihood"] for item in items)
                expected_score = nats / (sum(item["bits_per_byte_length"] for item in items) * math.log(2))
            else:
                expected_score = sum(item[primary] for item in items) / len(items)
            assert result["score"] == pytest.approx(expected_score)


def test_smoke_summary_has_a_row_per_model_and_task(smoke_run):
    config = smoke_config()
    grid = Grid(config)
    table = pd.read_csv(smoke_run / grid.files.summary_file())
    primary = table[table["primary"]]
    assert len(primary) == len(grid.axes.models()) * len(config["eval"]["tasks"])
    assert set(primary["kind"]) == {"base", "ift", "restored", "control"}
    assert not primary.duplicated(["model_path", "task"]).any()


def saved_parameters(model_dir) -> int:
    """The parameter count of a saved model, read from its safetensors (a tied output embedding is not stored)."""
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), "pt") as weights:
        return sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())


def test_the_tables_give_the_parameter_count_of_the_saved_base_model(smoke_run):
    grid = Grid(smoke_config())
    count = saved_parameters(smoke_run / grid.layout.path("model", model=grid.axes.base("world-llama", 0)))
    for table in ("forgetting", "pooled"):
        column = pd.read_csv(smoke_run / grid.layout.path("table", table=table, ext="csv"))["parameters"]
        assert column.tolist() == [count] * len(column), table


def test_two_base_models_of_different_sizes_pre_train_with_their_own_settings(tmp_path):
    """Two base models pre-trained on the smoke world, the second wider and deeper, with its own steps, batch and
    schedule: each saved model has its own architecture (config.json) and was trained with its own settings
    (trainer_state.json), and the parameter count its eval JSON records is that of its saved weights."""
    wide = {"name": "wide", "source": "pretrain", "steps": 12, "batch_size": 4, "schedule": "constant",
            "model": {"hidden_size": 64, "num_hidden_layers": 2}}
    overrides = {"base_models": [{"name": "world-llama", "source": "pretrain"}, wide]}
    grid = Grid(smoke_config(overrides))
    bases = [grid.axes.base(name, 0) for name in ("world-llama", "wide")]
    result = run_snakemake(*[grid.files.eval_file(ref, "world_completion") for ref in bases], "--cores", "2",
                           *config_args(tmp_path, overrides))
    assert job_counts(result.stdout + result.stderr) == {"world": 1, "tokenizer": 1, "pretrain": 2, "eval": 2}
    counts = {}
    for ref in bases:
        block = grid.stages.pretrain_block(ref.base_model)
        folder = tmp_path / grid.layout.path("model", model=ref)
        saved = json.loads((folder / "config.json").read_text())
        assert {key: saved[key] for key in block["model"]} == block["model"], ref.base_model
        state = json.loads((folder / "trainer_state.json").read_text())
        assert (state["max_steps"], state["train_batch_size"]) == (block["steps"], block["batch_size"])
        rates = {entry["learning_rate"] for entry in state["log_history"] if "learning_rate" in entry}
        assert (rates == {block["learning_rate"]}) == (block["schedule"] == "constant"), (ref.base_model, rates)
        counts[ref.base_model] = saved_parameters(folder)
        evaluated = json.loads((tmp_path / grid.files.eval_file(ref, "world_completion")).read_text())
        assert evaluated["model"]["num_parameters"] == counts[ref.base_model]
    assert grid.stages.pretrain_block("world-llama") == smoke_config()["pretrain"]
    assert counts["wide"] > 2 * counts["world-llama"]


def test_second_invocation_has_nothing_to_do(smoke_run):
    result = run_snakemake("-n", "--cores", "2", *config_args(smoke_run))
    assert "Nothing to be done" in result.stdout + result.stderr


def test_training_logs_show_progress(smoke_run):
    config = smoke_config()
    logs = list((smoke_run / config["results_dir"] / "logs" / "ift").rglob("*.log"))
    assert logs
    text = logs[0].read_text()
    assert re.search(r"\[train\] step \d+/\d+ loss [\d.]+ lr \S+ [\d.]+ steps/s \d+ tokens/s", text), text[-2000:]


def test_results_are_readable_by_the_group_under_umask_022(smoke_run):
    """On a shared file system collaborators read the results: every file the run wrote (eval JSONs, tables,
    figures, world files, models) has the permissions of a file the user creates, none private to its owner."""
    files = [path for path in (smoke_run / "results").rglob("*") if path.is_file()]
    private = [str(path) for path in files if path.stat().st_mode & 0o044 != 0o044]
    assert files and private == [], private[:10]
    # A folder the group cannot enter and list hides every file below it, readable or not.
    folders = [smoke_run / "results", *(path for path in (smoke_run / "results").rglob("*") if path.is_dir())]
    closed = [str(path) for path in folders if path.stat().st_mode & 0o055 != 0o055]
    assert closed == [], closed[:10]
