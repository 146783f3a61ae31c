"""Optional experiment tracking (training.report_to): off by default; when on, every training job's run is named after
the model it builds, logs inside the working directory, and a missing tracker stops the run before any job.

No tracker package is installed in the test environment (tensorboard is not pinned in requirements.txt), so the
tests that need one check whichever behaviour the environment calls for: event files where tensorboard is
importable, otherwise the error that names the key and the package, raised before any training or job. The naming of
runs and the arguments handed to transformers are checked without a tracker.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from transformers.integrations import is_tensorboard_available

from conftest import TINY_SHAPE, config_args, model_shape, run_snakemake, smoke_config, stage_args, world_config
from iftforget.config import default_config
from iftforget.grid import Grid
from iftforget.schema import ConfigError
from iftforget.training import load_text_dataset, sft_config, train

TENSORBOARD = is_tensorboard_available()


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
    for ref in grid.models():
        name, folder = grid.tracking(stages[ref.kind], ref.wildcards())
        assert name == f"{stages[ref.kind]}/{ref.path}"
        assert folder == f"{grid.layout.root}/tracking/{name}"
        seen.add(name)
    assert len(seen) == len(grid.models()), "no two jobs share a run name"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A tiny world's restoration text and a tiny base model on disk."""
    from iftforget.models import build_base_model
    from iftforget.tokenizer import train_tokenizer
    from iftforget.world import WORLD_FILES, write_world

    root = tmp_path_factory.mktemp("tracking")
    write_world(world_config(n_people=12, format_probe_people=3), {n: root / f"{n}.jsonl" for n in WORLD_FILES})
    texts = [json.loads(line)["text"] for line in (root / "restore.jsonl").read_text().splitlines()]
    tokenizer = train_tokenizer(texts, vocab_size=400)
    build_base_model(model_shape(**TINY_SHAPE), tokenizer, seed=0).save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    return root


def test_a_tensorboard_run_writes_its_events_in_the_jobs_folder_or_stops_naming_the_key(tiny, tmp_path):
    from iftforget.models import load_model, load_tokenizer

    stage = dataclasses.replace(stage_args(), report_to="tensorboard", threads=1, batch_size=4, logging_steps=1,
                                save_every_steps=0)
    dataset = load_text_dataset(tiny / "restore.jsonl", ("text",))
    folder = tmp_path / "results" / "tracking" / "restore" / "m"
    folder.mkdir(parents=True)
    (folder / "events.out.tfevents.stale").write_text("a superseded attempt's events")

    def run() -> None:
        model = load_model(str(tiny / "base"), False, "sdpa")
        train(model, load_tokenizer(str(tiny / "base")), dataset, stage, tmp_path / "out",
              total_steps=2, stop_step=2, run_name="restore/m", tracking_dir=folder)

    if TENSORBOARD:
        run()
        events = [path for path in folder.rglob("events.out.tfevents.*") if path.name != "events.out.tfevents.stale"]
        assert events, f"no event files in {folder}"
        assert not (folder / "events.out.tfevents.stale").exists(), "a fresh job clears an earlier attempt's logs"
    else:
        with pytest.raises(ConfigError) as error:
            run()
        assert "training.report_to" in str(error.value) and "tensorboard" in str(error.value)
        assert not (tmp_path / "out").exists() and not (tmp_path / "out.inprogress").exists(), "nothing trained"


def test_a_missing_tracker_stops_the_job_naming_the_key_and_the_package(monkeypatch):
    import importlib.util

    from iftforget.tracking import check_tracker_installed

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ConfigError) as error:
        check_tracker_installed("tensorboard")
    assert "training.report_to = 'tensorboard'" in str(error.value)
    assert "pip install tensorboard" in str(error.value)
    check_tracker_installed("none")  # tracking off needs nothing


def test_snakemake_hands_each_training_job_its_run_name_or_stops_before_any_job(tmp_path):
    tracked = {"training": {"report_to": "tensorboard"}}
    result = run_snakemake("-n", "-p", "--cores", "1", *config_args(tmp_path, tracked), check=False)
    output = result.stdout + result.stderr
    if TENSORBOARD:
        assert result.returncode == 0, output
        run = "ift/world-llama/rep0/ift/qa-mix/seed0/step5"
        assert f"--run-name {run} --tracking-dir results/smoke/tracking/{run}" in output
        assert "--run-name restore/world-llama/rep0/control/seed0/hold-bios/r5" in output
        assert "--run-name pretrain/world-llama/rep0/base" in output
    else:
        assert result.returncode != 0, output
        assert "training.report_to" in output and "pip install tensorboard" in output, output
        assert "Job stats" not in output, "no job was scheduled"
        assert not (tmp_path / "results").exists()
