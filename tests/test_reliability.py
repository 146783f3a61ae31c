"""Reliability: a training job killed with SIGKILL reruns to the uninterrupted result and never leaves an output
that looks complete; a broken model folder is named with how to rebuild it; the same seed gives the same eval
metrics and another seed other ones; jobs running side by side (--cores 2) leave complete, identical results."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (REPO, SNAKEMAKE, TINY_SHAPE, assert_same_weights, config_args, defaults, model_shape,
                      python_on_path, run_snakemake, smoke_config, wait_for)
from iftforget.eval_json import read_eval
from iftforget.evaluation import EvalSettings, evaluate
from iftforget.grid import Grid
from iftforget.io import replace_dir
from iftforget.jobs import EvalJob, RestoreJob
from iftforget.models import check_model_dir
from iftforget.paths import MODEL_PATTERNS

pytestmark = pytest.mark.workflow

# --- a real SIGKILL mid-way through a training job ----------------------------------------------------------------

# Long enough that the job is still training when its first in-job save appears, with saves every few steps.
KILL_OVERRIDES = {"training": {"save_every_steps": 5}, "pretrain": {"steps": 150}}


def test_sigkilled_training_job_reruns_to_the_uninterrupted_result(tmp_path):
    config = smoke_config(KILL_OVERRIDES)
    grid = Grid(config)
    base = grid.layout.path("model", model=grid.axes.base(config["base_models"][0]["name"], 0))
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    straight.mkdir()
    killed.mkdir()
    run_snakemake(base, "--cores", "1", *config_args(straight, KILL_OVERRIDES))
    # The same world and tokenizer (copied with their times, so they are up to date): only pre-training runs.
    shutil.copytree(straight / grid.files.world_dir(0), killed / grid.files.world_dir(0))

    log = tmp_path / "killed-snakemake.log"
    env = python_on_path()
    with log.open("w") as handle:
        # Its own session: the kill reaches snakemake, the job's shell and the training process, like a lost node.
        process = subprocess.Popen(
            [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), base, "--cores", "1",
             *config_args(killed, KILL_OVERRIDES)],
            cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
    in_progress = killed / f"{base}.inprogress"
    try:
        first_save = lambda: any(in_progress.glob("checkpoint-*/trainer_state.json"))  # noqa: E731
        wait_for(first_save, process, "the first in-job save", log)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (killed / base).exists(), "a killed job leaves no output that looks complete"
    saved = [int(p.parent.name.split("-")[1]) for p in in_progress.glob("checkpoint-*/trainer_state.json")]
    assert saved and max(saved) < config["pretrain"]["steps"], "the job was killed mid-way"

    # A lost snakemake leaves its lock behind: --unlock, then the rerun a user makes.
    run_snakemake("--unlock", *config_args(killed, KILL_OVERRIDES))
    run_snakemake(base, "--cores", "1", "--rerun-incomplete", *config_args(killed, KILL_OVERRIDES))
    base_identity = MODEL_PATTERNS["base"].format(model=config["base_models"][0]["name"], replicate=0)
    job_log = (killed / config["results_dir"] / "logs" / "pretrain" / f"{base_identity}.log").read_text()
    assert "resuming this job's own save" in job_log, "the rerun continues from the killed job's save"
    assert not in_progress.exists(), "the in-progress folder is removed once the job is done"
    assert_same_weights(straight / base, killed / base)


# --- a broken model folder ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A complete, tiny model folder (config, weights, tokenizer) to break in different ways."""
    from iftforget.tokenizer import train_tokenizer
    from iftforget.models import build_base_model

    folder = tmp_path_factory.mktemp("model") / "base"
    tokenizer = train_tokenizer([f"Person {i} was born in city {i % 7}." for i in range(200)], vocab_size=300)
    model = build_base_model(model_shape(**TINY_SHAPE), tokenizer, seed=0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def broken_copy(model: Path, tmp_path: Path, how: str) -> Path:
    broken = tmp_path / "results" / "models" / "m" / "base"
    shutil.copytree(model, broken)
    weights_file = broken / "model.safetensors"
    if how == "missing weights":
        weights_file.unlink()
    elif how == "truncated weights":
        data = weights_file.read_bytes()
        weights_file.write_bytes(data[: len(data) // 2])
    elif how == "missing config":
        (broken / "config.json").unlink()
    return broken


def test_a_saved_model_moved_into_place_is_readable_by_the_group(tmp_path):
    """transformers saves model.safetensors private to its owner (0600); collaborators on a shared file system must
    still read the models a run leaves, so the move into place gives them the umask's read permission."""
    from iftforget.models import build_base_model
    from iftforget.tokenizer import train_tokenizer

    tokenizer = train_tokenizer([f"Person {i} was born in city {i % 7}." for i in range(50)], vocab_size=300)
    saved = tmp_path / "saved"
    build_base_model(model_shape(**TINY_SHAPE), tokenizer, seed=0).save_pretrained(saved)
    tokenizer.save_pretrained(saved)
    (saved / "nested").mkdir(mode=0o700)
    (saved / "nested" / "state.pt").write_bytes(b"x")
    os.chmod(saved / "nested" / "state.pt", 0o600)
    replace_dir(saved, tmp_path / "results" / "model")
    paths = [tmp_path / "results" / "model", *(tmp_path / "results" / "model").rglob("*")]
    private = [str(path) for path in paths if path.stat().st_mode & 0o044 != 0o044]
    assert private == []
    assert all(path.stat().st_mode & 0o055 == 0o055 for path in paths if path.is_dir())


BREAKAGES = {"missing weights": "no weights", "truncated weights": "truncated",
             "missing config": "config.json is missing"}


@pytest.mark.parametrize("how", sorted(BREAKAGES))
def test_broken_model_folder_is_named_with_how_to_rebuild_it(tiny_model, tmp_path, how):
    check_model_dir(tiny_model)  # the intact folder passes
    broken = broken_copy(tiny_model, tmp_path, how)
    with pytest.raises(FileNotFoundError) as error:
        check_model_dir(broken)
    message = str(error.value)
    assert str(broken) in message and BREAKAGES[how] in message, message
    assert f"snakemake --forcerun {broken}" in message, message


def test_evaluating_a_model_without_weights_writes_no_result(tiny_model, tmp_path):
    broken = broken_copy(tiny_model, tmp_path, "missing weights")
    out = tmp_path / "eval.json"
    settings = EvalSettings.from_config(defaults("eval") | {"attn_implementation": "sdpa"}, False)
    with pytest.raises(FileNotFoundError, match="snakemake --forcerun"):
        evaluate(str(broken), {"world_mc_completion": out}, settings, world_dir=tmp_path)
    assert not out.exists()
    assert not list(tmp_path.glob(".eval.json.*")), "no temporary file left behind"


@pytest.mark.parametrize("adapter", ["eval", "restore"])
def test_job_on_a_model_without_weights_fails_naming_the_folder(tiny_model, tmp_path, adapter):
    """What a job's log shows: the adapters stop before loading anything, with the folder and the rebuild command."""
    broken = broken_copy(tiny_model, tmp_path, "missing weights")
    out = tmp_path / "out"
    arguments = {
        "eval": ["--job", EvalJob.job_json(model=str(broken), info={}, settings=defaults("eval"),
                                           trust_remote_code=False, chat_template_source="model",
                                           world_dir=str(tmp_path)),
                 "--execution", EvalJob.execution_json(run_settings={"threads": 1, "attn_implementation": "sdpa"},
                                                       cache_dir=str(tmp_path / "cache")),
                 "--outputs", f"world_mc_completion={out}", "--chat-template", str(REPO / "templates" / "tulu.jinja")],
        "restore": ["--job", RestoreJob.job_json(start_model=str(broken), steps=2, settings=defaults("restore"), seed=0,
                                                 trust_remote_code=False),
                    "--execution", RestoreJob.execution_json(run_settings=defaults("training") | {"threads": 1},
                                                             run_name="", tracking_dir=None),
                    "--corpus", str(tmp_path / "corpus.jsonl"), "--out", str(out)],
    }[adapter]
    result = subprocess.run(
        [sys.executable, "-m", adapter, *arguments],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode != 0
    assert f"model directory {broken} is incomplete" in result.stderr, result.stderr[-3000:]
    assert f"snakemake --forcerun {broken}" in result.stderr
    assert not out.exists()


# --- determinism and jobs side by side ----------------------------------------------------------------------------


def job_overlap(snakemake_log: str, rule: str) -> int:
    """The most jobs of `rule` running at once, from the order of snakemake's start and finish lines."""
    events = re.findall(r"^(?:Job (\d+): |Finished jobid: (\d+) \(Rule: (\w+)\))", snakemake_log, re.MULTILINE)
    rule_of = {finished: name for _, finished, name in events if finished}
    running = most = 0
    for started, finished, _ in events:
        if rule_of.get(started or finished) != rule:
            continue
        running += 1 if started else -1
        most = max(most, running)
    return most


def same_results(a: Path, b: Path) -> bool:
    ra, rb = read_eval(a), read_eval(b)
    keys = ("task", "score", "metrics", "n_items", "items")
    return all(ra[k] == rb[k] for k in keys)


def test_same_seed_gives_identical_metrics_and_another_seed_other_ones(smoke_run, tmp_path):
    """The chain world -> pre-training -> IFT -> restoration -> evaluation run again from scratch in another folder
    (another process, environment and working directory than the smoke run) gives the same eval JSONs, every metric
    and every item's record; the IFT run with another seed gives other per-item results."""
    config = smoke_config()
    grid = Grid(config)
    base_name, dataset = config["base_models"][0]["name"], config["ift_datasets"][0]["name"]
    step, seed = config["ift"]["steps"][0], config["seeds"][0]
    restored = grid.axes.restored(base_name, dataset, 0, seed, step)
    targets = [grid.files.eval_file(restored, task) for task in grid.axes.tasks]
    run_snakemake(*targets, "--cores", "2", *config_args(tmp_path))
    different = [t for t in targets if not same_results(tmp_path / t, smoke_run / t)]
    assert different == [], "the same seed gives the same eval metrics"

    ift = grid.axes.ift(base_name, dataset, 0, seed, step)
    reseeded = grid.axes.ift(base_name, dataset, 0, seed + 1, step)
    run_snakemake(grid.files.eval_file(reseeded, "world_mc_completion"), "--cores", "2",
                  *config_args(tmp_path, {"seeds": [seed + 1]}, name="other-seed"))
    first = read_eval(smoke_run / grid.files.eval_file(ift, "world_mc_completion"))["items"]
    second = read_eval(tmp_path / grid.files.eval_file(reseeded, "world_mc_completion"))["items"]
    assert [i["id"] for i in first] == [i["id"] for i in second]
    assert [i["loglikelihoods"] for i in first] != [i["loglikelihoods"] for i in second], "another seed, other results"


# A job's adapter run as its rule runs it (`python -m ADAPTER ...`), but killed with SIGKILL in the middle of the first
# file it writes into WATCHED: half the text written and flushed, then the process is gone, no clean-up run.
KILLED_MID_WRITE = """
import builtins, io, os, runpy, signal, sys
from pathlib import Path

watched, adapter, sys.argv = Path(sys.argv[1]).resolve(), sys.argv[2], sys.argv[2:]
real_open = io.open


class KilledMidWrite:
    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.handle.__exit__(*exc)


def watching_open(file, mode="r", *args, **kwargs):
    handle = real_open(file, mode, *args, **kwargs)
    writes = any(flag in mode for flag in "wax+")
    if writes and isinstance(file, (str, os.PathLike)) and Path(file).resolve().parent == watched:
        return KilledMidWrite(handle)
    return handle


builtins.open = io.open = watching_open
runpy.run_module(adapter, run_name="__main__", alter_sys=True)
"""


def killed_mid_write(adapter: str, watched: Path, *arguments: str) -> list[str]:
    """Run the adapter, killed in the middle of its first write into `watched`; the names of the files left there."""
    watched.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", KILLED_MID_WRITE, str(watched), adapter, *arguments], cwd=watched.parent,
        capture_output=True, text=True, timeout=600)
    assert result.returncode == -signal.SIGKILL, f"not killed mid-write ({result.returncode}):\n{result.stderr[-3000:]}"
    return sorted(path.name for path in watched.iterdir())


def test_world_eval_and_summary_jobs_killed_mid_write_leave_no_output_file(smoke_run, tmp_path):
    """Each writes to a hidden temporary file and renames it into place: killed while writing, the job leaves
    only that temporary file, never a half-written file under an output's name."""
    config = smoke_config()
    grid = Grid(config)
    base = grid.axes.models()[0]
    left = {
        "world": killed_mid_write("world", tmp_path / "world", "--world", json.dumps(config["world"]), "--out-dir",
                                  str(tmp_path / "world")),
        "eval": killed_mid_write(
            "eval", tmp_path / "eval",
            "--job", EvalJob.job_json(model=str(smoke_run / grid.layout.path("model", model=base)), info={},
                                      settings=defaults("eval"), trust_remote_code=False, chat_template_source="model",
                                      world_dir=str(smoke_run / grid.files.world_dir(0))),
            "--execution", EvalJob.execution_json(run_settings={"threads": 1, "attn_implementation": "sdpa"},
                                                  cache_dir=str(tmp_path / "cache")),
            "--outputs", f"world_mc_completion={tmp_path / 'eval' / 'world_mc_completion.json'}",
            "--chat-template", str(REPO / "templates" / "tulu.jinja")),
        "summarize": killed_mid_write("summarize", tmp_path / "summary", "--out", str(tmp_path / "summary" / "s.csv"),
                                      *(str(smoke_run / path) for path in grid.files.eval_files())),
    }
    for job, names in left.items():
        assert names and all(name.startswith(".") and name.endswith(".tmp") for name in names), f"{job}: {names}"


def test_runs_with_two_cores_leave_only_complete_results(smoke_run):
    """The smoke run (--cores 2: restorations and evaluations side by side, sharing the world, the tokenizer and
    the datasets cache) ran jobs at once, and has every eval JSON complete, no job error in any log, and no
    temporary or in-progress file."""
    workdir = smoke_run
    config = smoke_config()
    grid = Grid(config)
    snakemake_logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    assert snakemake_logs
    assert job_overlap(snakemake_logs[0].read_text(), "eval") >= 2, "the run evaluated two models at once"
    for target in grid.files.eval_files():
        read_eval(workdir / target)  # raises, naming the file, if one is truncated or incomplete
    for job_log in (workdir / config["results_dir"] / "logs").rglob("*.log"):
        text = job_log.read_text()
        assert "Traceback" not in text and "Error" not in text, f"{job_log}:\n{text[-3000:]}"
    leftovers = [p for pattern in ("**/.*.tmp", "**/*.partial", "**/*.inprogress") for p in workdir.glob(pattern)]
    assert leftovers == [], "a finished run leaves no temporary or in-progress file"
