"""The workflow end to end: lint, the default grid's DAG, and the smoke grid run for real."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.utils import validate
from transformers import AutoModelForCausalLM, AutoTokenizer

from conftest import REPO, run_snakemake
from iftforget.grid import Grid
from iftforget.io import read_jsonl


def smoke_config(workdir: Path) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for section, values in yaml.safe_load((REPO / "presets" / "smoke.yaml").read_text()).items():
        config[section] = {**config[section], **values} if isinstance(values, dict) else values
    validate(config, str(REPO / "schemas" / "config.schema.yaml"))
    return config


def job_counts(dry_run_output: str) -> dict[str, int]:
    table = dry_run_output.split("Job stats:")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def test_lint_is_clean():
    result = run_snakemake("--lint", "--cores", "1", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for rule" not in result.stdout + result.stderr


def test_default_grid_dry_run_lists_every_job(tmp_path):
    result = run_snakemake("-n", "--cores", "2", "--configfile", str(REPO / "config.yaml"), "--directory", str(tmp_path))
    counts = job_counts(result.stdout)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    k = len(config["ift"]["steps"])
    n_tasks = len(config["eval"]["tasks"])
    assert counts["world"] == counts["tokenizer"] == counts["pretrain"] == 1
    assert counts["ift_segment"] == k
    assert counts["restore"] == k and counts["restore_control"] == 1
    assert counts["evaluate"] == (1 + 1 + 2 * k) * n_tasks, "base, control, IFT@k and restored@k on every task"
    assert counts["summarize"] == 1


def test_smoke_grid_builds_every_artifact(smoke_run):
    config = smoke_config(smoke_run)
    grid = Grid(config)
    root = smoke_run
    for path in [grid.world_file(n) for n in ("people", "pretrain", "ift", "restore", "completion")] + [grid.tokenizer_dir()]:
        assert (root / path).exists(), path
    model_dirs = {ref.path for ref in grid.models()}
    assert len(model_dirs) == 2 + 2 * len(config["ift"]["steps"])
    for model_path in sorted(model_dirs):
        directory = root / grid.model_dir(model_path)
        model = AutoModelForCausalLM.from_pretrained(directory)
        tokenizer = AutoTokenizer.from_pretrained(directory)
        assert model.num_parameters() > 0
        assert tokenizer.chat_template and (directory / "model.safetensors").is_file()
        assert not list(directory.parent.glob("*.inprogress")), "no in-progress folder left behind"


def test_smoke_eval_jsons_hold_every_task_with_per_item_records(smoke_run):
    config = smoke_config(smoke_run)
    grid = Grid(config)
    n_probe_items = len(read_jsonl(smoke_run / grid.world_file("completion")))
    n_format_items = len(read_jsonl(smoke_run / grid.world_file("ppl_pretrain")))
    for ref in grid.models():
        for task in config["eval"]["tasks"]:
            result = json.loads((smoke_run / grid.eval_file(ref.path, task)).read_text())
            assert result["task"] == task
            assert result["model"]["kind"] == ref.kind and result["model"]["step"] == ref.step
            expected = n_format_items if task.startswith("world_ppl") else n_probe_items
            assert result["n_items"] == len(result["items"]) == expected
            primary = result["primary_metric"]
            assert all(primary in item for item in result["items"])
            values = [item[primary] for item in result["items"]]
            assert result["score"] == pytest.approx(
                sum(values) / len(values) if primary != "bits_per_byte" else result["score"]
            )


def test_smoke_summary_has_a_row_per_model_and_task(smoke_run):
    config = smoke_config(smoke_run)
    grid = Grid(config)
    table = pd.read_csv(smoke_run / grid.summary_file())
    primary = table[table["primary"]]
    assert len(primary) == len(grid.models()) * len(config["eval"]["tasks"])
    assert set(primary["kind"]) == {"base", "ift", "restored", "control"}
    assert not primary.duplicated(["model_path", "task"]).any()


def test_second_invocation_has_nothing_to_do(smoke_run):
    result = run_snakemake(
        "-n", "--cores", "2", "--configfile", str(REPO / "config.yaml"), str(REPO / "presets" / "smoke.yaml"),
        "--directory", str(smoke_run),
    )
    assert "Nothing to be done" in result.stdout + result.stderr


def test_training_logs_show_progress(smoke_run):
    config = smoke_config(smoke_run)
    logs = list((smoke_run / config["results_dir"] / "logs" / "ift").rglob("*.log"))
    assert logs
    text = logs[0].read_text()
    assert re.search(r"\[train\] step \d+/\d+ loss [\d.]+ lr \S+ [\d.]+ steps/s \d+ tokens/s", text), text[-2000:]
