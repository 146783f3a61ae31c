"""Optional experiment tracking (training.report_to): off by default; when on, every training job's run is named after
the model it builds, logs inside the working directory, and a missing tracker stops the run before any job.

tensorboard is pinned in requirements.txt: a tracked training run writes event files that hold its loss, and
Snakemake hands every training job its run name. A missing tracker is shown by hiding the package from the check
(in the test process, and in a `snakemake` process of its own): the error names the key and the package, before
any training or job.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import (REPO, SNAKEMAKE, TINY_SHAPE, adapter_options, config_args, model_shape, run_snakemake,
                      shell_commands, smoke_config, stage_args, world_config)
from iftforget.grid import Grid
from iftforget.schema import ConfigError, default_config
from iftforget.tracking import tracked_run
from iftforget.training import load_text_dataset, sft_config, train

pytestmark = pytest.mark.workflow


def test_tracking_is_off_by_default_and_hands_transformers_no_tracker(tmp_path):
    assert default_config()["training"]["report_to"] == "none"
    args = sft_config(stage_args(), tmp_path, total_steps=4, assistant_only=False)
    assert args.report_to == [], "transformers reports to nothing unless asked"


def test_a_tracked_stage_reports_to_the_tracker_under_the_jobs_run_name(tmp_path):
    stage = dataclasses.replace(stage_args(), report_to="tensorboard")
    args = sft_config(stage, tmp_path, total_steps=4, assistant_only=True, run_name="ift/m/rep0/ift/d/seed0/step5")
    assert args.report_to == ["tensorboard"]
    assert args.run_name == "ift/m/rep0/ift/d/seed0/step5"


def test_every_training_job_is_named_after_the_model_it_builds_and_logs_below_results_dir():
    grid = Grid(smoke_config())
    stages = {"base": "pretrain", "ift": "ift", "restored": "restore", "control": "restore"}
    seen = set()
    for ref in grid.axes.models():
        name, folder = tracked_run(grid.layout, stages[ref.kind], ref.wildcards())
        assert name == f"{stages[ref.kind]}/{ref.path}"
        assert folder == f"{grid.layout.root}/tracking/{name}"
        seen.add(name)
    assert len(seen) == len(grid.axes.models()), "no two jobs share a run name"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A tiny world's restoration text and a tiny base model on disk."""
    from iftforget.models import build_base_model
    from iftforget.tokenizer import train_tokenizer
    from iftforget.world_data import WORLD_FILES, write_world

    root = tmp_path_factory.mktemp("tracking")
    write_world(world_config(n_people=12, format_probe_people=3), {n: root / f"{n}.jsonl" for n in WORLD_FILES})
    texts = [json.loads(line)["text"] for line in (root / "restore.jsonl").read_text().splitlines()]
    tokenizer = train_tokenizer(texts, vocab_size=400)
    build_base_model(model_shape(**TINY_SHAPE), tokenizer, seed=0).save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    return root


def test_a_tensorboard_run_writes_its_loss_in_the_jobs_folder(tiny, tmp_path):
    from iftforget.models import load_model, load_tokenizer

    stage = dataclasses.replace(stage_args(), report_to="tensorboard", threads=1, batch_size=4, logging_steps=1,
                                save_every_steps=0)
    dataset = load_text_dataset(tiny / "restore.jsonl", ("text",))
    folder = tmp_path / "results" / "tracking" / "restore" / "m"
    folder.mkdir(parents=True)
    (folder / "events.out.tfevents.stale").write_text("a superseded attempt's events")
    model = load_model(str(tiny / "base"), False, "sdpa")
    train(model, load_tokenizer(str(tiny / "base")), dataset, stage, tmp_path / "out",
          total_steps=2, stop_step=2, run_name="restore/m", tracking_dir=folder)
    events = [path for path in folder.rglob("events.out.tfevents.*") if path.name != "events.out.tfevents.stale"]
    assert events, f"no event files in {folder}"
    assert not (folder / "events.out.tfevents.stale").exists(), "a fresh job clears an earlier attempt's logs"
    losses = []
    for path in events:
        accumulator = EventAccumulator(str(path)).Reload()
        if "train/loss" in accumulator.Tags()["scalars"]:
            losses += [event.step for event in accumulator.Scalars("train/loss")]
    assert sorted(losses) == [1, 2], "the loss of every logged step"


def test_a_missing_tracker_stops_the_job_naming_the_key_and_the_package(monkeypatch):
    import importlib.util

    from iftforget.tracking import check_tracker_installed

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ConfigError) as error:
        check_tracker_installed("tensorboard")
    assert "training.report_to = 'tensorboard'" in str(error.value)
    assert "pip install tensorboard" in str(error.value)
    check_tracker_installed("none")  # tracking off needs nothing


def test_snakemake_hands_each_training_job_its_run_name(tmp_path):
    tracked = {"training": {"report_to": "tensorboard"}}
    result = run_snakemake("-n", "-p", "--cores", "1", *config_args(tmp_path, tracked))
    runs = {options["--execution"]["run_name"]: options["--execution"]["tracking_dir"]
            for options in map(adapter_options, shell_commands(result.stdout))
            if options["adapter"] in ("pretrain", "ift", "restore")}
    run = "ift/world-llama/rep0/ift/qa-mix/seed0/step5"
    assert runs[run] == f"results/smoke/tracking/{run}"
    assert "restore/world-llama/rep0/control/seed0/hold-bios/r5" in runs
    assert "pretrain/world-llama/rep0/base" in runs


# `snakemake` with the tracker packages hidden from importlib's lookup, as in a Python that lacks them.
WITHOUT_TENSORBOARD = """
import importlib.util, sys
found = importlib.util.find_spec
importlib.util.find_spec = lambda name, *args: None if name in ("tensorboard", "tensorboardX") else found(name, *args)
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:]]
main(sys.argv[1:])
"""


def test_snakemake_without_the_tracker_stops_before_any_job(tmp_path):
    tracked = {"training": {"report_to": "tensorboard"}}
    command = [sys.executable, "-c", WITHOUT_TENSORBOARD, "--snakefile", str(REPO / "Snakefile"), "-n", "--cores",
               "1", *config_args(tmp_path, tracked)]
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(SNAKEMAKE).parent), os.environ.get("PATH", "")])}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "training.report_to" in output and "pip install tensorboard" in output, output
    assert "Job stats" not in output, "no job was scheduled"
    assert not (tmp_path / "results").exists()
