"""Offline compute nodes, for real: a local stand-in for the Hugging Face hub (tests/hub_stand_in.py, HF_ENDPOINT
pointed at it) serves a tiny model, an instruction dataset, a corpus and an lm-eval task's dataset; `snakemake
prefetch` fetches them into the working directory; the stand-in is stopped; and the grid's jobs (IFT, restoration,
evaluation) then run from the cache alone. Jobs whose artifact is not in the cache, and a prefetch where the hub
cannot be reached, fail with a message that names the artifact and `snakemake prefetch`. The real rules, scripts and
libraries throughout: nothing of the workflow is mocked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SECRET, TINY_SHAPE, job_counts, model_shape, run_snakemake
from conftest import stand_in_sentence as sentence
from hub_stand_in import HubStandIn, Repo
from iftforget.models import build_base_model
from iftforget.tokenizer import train_tokenizer
from iftforget.world_text import GENERIC_WORDS as WORDS

pytestmark = pytest.mark.workflow

RESULTS = "results/offline"
MODEL_ID, IFT_ID = "stand-in/tiny-llama", "stand-in/alpaca-mini"
CORPUS_ID, TASK_ID = "stand-in/corpus-mini", "stand-in/mc-mini"
FETCH_HINT = "snakemake prefetch"
# The run's token variable (hub_token_env), and a token in HF_TOKEN, which huggingface_hub would send by itself.
TOKEN_ENV, OTHER_TOKEN = "IFTFORGET_TEST_HUB_TOKEN", "hf_OTHER-token-not-named-by-hub_token_env"
# What the offline run builds: every job that reads a hub artifact (IFT and the control read the model, the control
# the corpus sample, both evaluations the task's dataset, the base's the model), and no more (the machine is small).
TARGETS = [f"{RESULTS}/eval/tiny/rep0/base/hub_mc.json",
           f"{RESULTS}/eval/tiny/rep0/ift/alpaca-hub/seed0/step2/hub_mc.json",
           f"{RESULTS}/models/tiny/rep0/control/seed0/corpus-hub/r1"]


def jsonl(records) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> dict:
    """The repositories of the stand-in hub, and the run's config (hub ids, and the task YAML that names one)."""
    root = tmp_path_factory.mktemp("hub")
    texts = [sentence(i) for i in range(200)]
    tokenizer = train_tokenizer(texts + ["What is the next word?"], vocab_size=400)
    tokenizer.chat_template = None  # like Llama-2 base: IFT gives it the configured template
    folder = root / "tiny-llama"
    build_base_model(model_shape(**TINY_SHAPE), tokenizer, seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # Like Llama-2's repositories: PyTorch .bin weights beside the safetensors ones (the prefetch skips them).
    (folder / "pytorch_model.bin").write_bytes(b"weights in a second format")
    (folder / "README.md").write_text("A tiny model.\n")
    repos = {
        "model": Repo.from_folder("model", MODEL_ID, folder),
        "ift": Repo("dataset", IFT_ID, {"data/train.jsonl": jsonl(
            {"instruction": f"Continue: {sentence(i)[:20]}", "input": "", "output": sentence(i + 1)}
            for i in range(40))}),
        "corpus": Repo("dataset", CORPUS_ID, {"data/train.jsonl": jsonl(
            {"text": sentence(i + 100)} for i in range(60))}),
        "task": Repo("dataset", TASK_ID, {"data/test.jsonl": jsonl(
            {"query": sentence(i)[:30], "choices": [WORDS[i % 5], WORDS[(i + 1) % 5]], "gold": 0}
            for i in range(12))}),
    }
    tasks = root / "tasks"
    tasks.mkdir()
    # An lm-eval task whose dataset is a hub id, as lm-eval's own tasks are (triviaqa: mandarjoshi/trivia_qa).
    (tasks / "hub_mc.yaml").write_text(yaml.safe_dump({
        "task": "hub_mc", "dataset_path": TASK_ID, "dataset_kwargs": {"revision": repos["task"].commit},
        "test_split": "test", "output_type": "multiple_choice", "doc_to_text": "{{query}}",
        "doc_to_choice": "{{choices}}", "doc_to_target": "gold", "metric_list": [{"metric": "acc"}],
        "metadata": {"version": 1},
    }))
    config = {
        "results_dir": RESULTS,
        # The model at the default branch (its commit is resolved and recorded by the prefetch), the data pinned.
        "base_models": [{"name": "tiny", "source": MODEL_ID}],
        "ift_datasets": [{"name": "alpaca-hub", "source": IFT_ID, "revision": repos["ift"].commit,
                          "format": "instruction"}],
        "restore_corpus": {"name": "corpus-hub", "source": CORPUS_ID, "revision": repos["corpus"].commit,
                           "sample_tokens": 300},
        "seeds": [0],
        "training": {"threads": 1, "logging_steps": 1, "save_every_steps": 0},
        "ift": {"learning_rate": 1e-3, "batch_size": 4, "total_steps": 2, "steps": [2]},
        "restore": {"learning_rate": 1e-4, "steps": 1, "batch_size": 4},
        "eval": {"tasks": ["hub_mc"], "include_path": str(tasks), "batch_size": 8},
        "hub_token_env": TOKEN_ENV,
    }
    (root / "offline.yaml").write_text(yaml.safe_dump(config))
    return {"repos": repos, "config": root / "offline.yaml"}


def snakemake(workdir: Path, home: Path, endpoint: str, *args: str, check: bool = True, config: str = "offline.yaml"):
    """Snakemake on the run's config in `workdir`, with HOME empty and HF_ENDPOINT set, as a user would run it: the
    offline switches that the tests' own process sets are not handed on, so that the jobs are offline only where
    the workflow makes them so; the token of hub_token_env is set, and HF_TOKEN holds another one that no request
    may carry."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOME", str(home))
        env.setenv("HF_ENDPOINT", endpoint)
        env.delenv("HF_HUB_OFFLINE", raising=False)
        env.delenv("HF_DATASETS_OFFLINE", raising=False)
        env.setenv(TOKEN_ENV, SECRET)
        env.setenv("HF_TOKEN", OTHER_TOKEN)
        return run_snakemake(*args, "--configfile", str(REPO / "config.yaml"), str(workdir / config),
                             "--directory", str(workdir), check=check, timeout=900)


def written_outside(home: Path) -> list[Path]:
    """What a run wrote to HOME, but for Snakemake's own start-up folders (~/.cache/snakemake)."""
    return [p for p in home.rglob("*") if p.relative_to(home).parts[:2] not in ((".cache",), (".cache", "snakemake"))]


@pytest.fixture(scope="module")
def prefetched(hub, tmp_path_factory) -> dict:
    """`snakemake prefetch` against the running stand-in (the login node), which is stopped afterwards."""
    workdir, home = tmp_path_factory.mktemp("run"), tmp_path_factory.mktemp("home")
    shutil.copy(hub["config"], workdir / "offline.yaml")
    with HubStandIn(list(hub["repos"].values())) as stand_in:
        result = snakemake(workdir, home, stand_in.url, "prefetch", "--cores", "2")
    return {"workdir": workdir, "home": home, "endpoint": stand_in.url, "result": result, "stand_in": stand_in}


@pytest.fixture(scope="module")
def offline_run(prefetched, hub) -> dict:
    """The grid's jobs that read hub artifacts, with a stand-in hub up and answering (as a login node's network
    would), so that any request a job makes is seen, not refused; the later tests use the stopped one's port."""
    with HubStandIn(list(hub["repos"].values())) as stand_in:
        result = snakemake(prefetched["workdir"], prefetched["home"], stand_in.url, "--cores", "2", *TARGETS)
    return prefetched | {"offline": result, "asked": stand_in.requests}


def test_prefetch_fetches_every_hub_artifact_into_the_working_directory(prefetched, hub):
    results = prefetched["workdir"] / RESULTS
    assert job_counts(prefetched["result"].stdout + prefetched["result"].stderr) == {
        "prefetch_model": 1, "prefetch_task": 1, "prefetch_ift_data": 1, "prefetch_restore_corpus": 1, "prefetch": 1}
    model = json.loads((results / "prefetch" / "models" / "tiny.json").read_text())
    assert (model["repo_id"], model["revision"], model["commit"]) == (MODEL_ID, "main", hub["repos"]["model"].commit)
    assert model["snapshot"].startswith(f"{RESULTS}/cache/hf/hub/models--stand-in--tiny-llama/snapshots/")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(model["files"])
    assert "pytorch_model.bin" not in model["files"], "weights in a second format are not fetched"
    requests = prefetched["stand_in"].requests
    assert not any(r.endswith("/pytorch_model.bin") and r.startswith("GET") for r in requests)
    assert prefetched["stand_in"].unhandled == [], "the stand-in answered every request the libraries made"
    task = json.loads((results / "prefetch" / "tasks" / "hub_mc.json").read_text())
    assert [(d["path"], d["splits"]) for d in task["datasets"]] == [(TASK_ID, {"test": 12})]
    assert task["datasets"][0]["cache"][0].startswith(f"{RESULTS}/cache/datasets/stand-in___mc-mini/")
    chats = (results / "data" / "ift" / "alpaca-hub.jsonl").read_text().splitlines()
    assert len(chats) == 40 and json.loads(chats[0])["messages"][0]["content"].startswith("Continue:")
    sample = [json.loads(line)["text"] for line in (results / "data" / "restore" / "corpus-hub.jsonl").open()]
    assert sample and sample == [sentence(i + 100) for i in range(len(sample))], "the corpus's first documents"
    assert written_outside(prefetched["home"]) == [], "the downloads went to the working directory"


def test_the_prefetch_sends_only_the_token_that_hub_token_env_names_and_writes_it_nowhere(prefetched):
    # Requests that need no token (huggingface_hub's registry of agents) may come without one.
    authorizations = prefetched["stand_in"].authorizations
    assert f"Bearer {SECRET}" in authorizations and authorizations <= {f"Bearer {SECRET}", None}, authorizations
    output = prefetched["result"].stdout + prefetched["result"].stderr
    assert SECRET not in output
    leaks = [path for folder in (prefetched["workdir"], prefetched["home"]) for path in folder.rglob("*")
             if path.is_file() and SECRET.encode() in path.read_bytes()]
    assert leaks == [], "the token appears in logs, the caches or snakemake's metadata"


def test_the_grid_runs_from_the_cache_asking_the_hub_nothing(offline_run, hub):
    output = offline_run["offline"].stdout + offline_run["offline"].stderr
    assert offline_run["asked"] == [], "a job sent requests to the hub"
    # The checks at the run's start read the prefetched base model from the workflow's cache, not HOME's.
    assert "not on this machine" not in output, "the run's start did not find the prefetched model"
    assert job_counts(output) == {"ift": 1, "restore_control": 1, "eval": 2}, "nothing is fetched again"
    evals = sorted((offline_run["workdir"] / RESULTS / "eval").rglob("hub_mc.json"))
    assert len(evals) == 2
    for path in evals:
        assert json.loads(path.read_text())["n_items"] == 12
    base = json.loads((offline_run["workdir"] / RESULTS / "eval" / "tiny" / "rep0" / "base" / "hub_mc.json")
                      .read_text())
    assert (base["model"]["hub_id"], base["model"]["commit"]) == (MODEL_ID, hub["repos"]["model"].commit)
    ift_log = (offline_run["workdir"] / RESULTS / "logs" / "ift" / "tiny" / "rep0" / "ift" / "alpaca-hub" / "seed0"
               / "step2.log").read_text()
    assert "models--stand-in--tiny-llama/snapshots/" in ift_log, "IFT started from the cached snapshot"
    assert written_outside(offline_run["home"]) == []


def copy_of(run: dict, tmp_path: Path) -> Path:
    """A copy of the offline run's working directory (each failure below breaks its own)."""
    workdir = tmp_path / "run"
    shutil.copytree(run["workdir"], workdir, symlinks=True)
    return workdir


def test_a_refilled_cache_reruns_nothing_and_another_revision_reruns_the_models_jobs(offline_run, hub, tmp_path):
    """The cache emptied and filled again by `snakemake prefetch --forcerun ...` (what the jobs' error says): the same
    commits give the same records, and the grid has nothing to rerun. A changed revision (here: the fetched commit
    pinned) reruns every job that reads the model."""
    workdir = copy_of(offline_run, tmp_path)
    shutil.rmtree(workdir / RESULTS / "cache")
    # This time no token variable is named: the prefetch sends no token, though HF_TOKEN holds one.
    no_token = yaml.safe_load((workdir / "offline.yaml").read_text()) | {"hub_token_env": ""}
    (workdir / "no-token.yaml").write_text(yaml.safe_dump(no_token))
    with HubStandIn(list(hub["repos"].values())) as stand_in:
        snakemake(workdir, offline_run["home"], stand_in.url, "prefetch", "--cores", "2", "--forcerun",
                  "prefetch_model", "prefetch_task", config="no-token.yaml")
    assert stand_in.authorizations == {None}, "no token unless hub_token_env names one"
    assert (workdir / RESULTS / "cache" / "hf" / "hub" / "models--stand-in--tiny-llama").is_dir()
    run = (workdir, offline_run["home"], offline_run["endpoint"])
    assert job_counts(snakemake(*run, "-n", "--cores", "1", *TARGETS).stdout) == {}
    config = yaml.safe_load((workdir / "offline.yaml").read_text())
    config["base_models"][0]["revision"] = hub["repos"]["model"].commit
    (workdir / "pinned.yaml").write_text(yaml.safe_dump(config))
    pinned = job_counts(snakemake(*run, "-n", "--cores", "1", *TARGETS, config="pinned.yaml").stdout)
    assert {"prefetch_model", "prefetch_restore_corpus", "ift", "restore_control", "eval"} <= set(pinned)


def test_jobs_whose_artifacts_are_not_in_the_cache_fail_naming_them_and_the_prefetch(offline_run, tmp_path):
    """The cache emptied after the prefetch (a scratch purge): the model's snapshot gone, and the task's dataset. The
    base's evaluation stops on the model before loading anything, IFT@2's (a model of the grid) on the task."""
    workdir = copy_of(offline_run, tmp_path)
    shutil.rmtree(workdir / RESULTS / "cache" / "hf" / "hub" / "models--stand-in--tiny-llama")
    shutil.rmtree(workdir / RESULTS / "cache" / "datasets" / "stand-in___mc-mini")
    evals = [TARGETS[0], TARGETS[1]]
    # The targets before --forcerun (which takes every name after it), and no retry of the workflow profile's
    # `retries: 1` (a job that fails for a missing artifact fails again).
    result = snakemake(workdir, offline_run["home"], offline_run["endpoint"], "--cores", "2", "--keep-going",
                       "--retries", "0", *evals, "--forcerun", "eval", check=False)
    assert result.returncode != 0
    logs = workdir / RESULTS / "logs" / "eval" / "tiny" / "rep0"
    base = (logs / "base.log").read_text()
    assert f"base model {MODEL_ID} at revision main is not in the hub cache" in base, base[-3000:]
    assert FETCH_HINT in base and "--forcerun prefetch_model prefetch_task" in base
    ift = (logs / "ift" / "alpaca-hub" / "seed0" / "step2.log").read_text()
    assert "the datasets of lm-eval task 'hub_mc' are not in the datasets cache" in ift, ift[-3000:]
    assert TASK_ID in ift and FETCH_HINT in ift
    assert not any((workdir / evaluation).exists() for evaluation in evals), "no result from a failed job"


def test_a_run_that_needs_a_prefetch_where_the_hub_is_unreachable_says_where_to_fetch(hub, prefetched, tmp_path):
    """A fresh working directory, never prefetched, run where the hub cannot be reached (a compute node): the
    prefetch jobs Snakemake schedules first fail, each naming what it fetches and where to fetch it."""
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    shutil.copy(hub["config"], workdir / "offline.yaml")
    result = snakemake(workdir, prefetched["home"], prefetched["endpoint"], "--cores", "2", "--keep-going",
                       "--retries", "0", *TARGETS, check=False)
    assert result.returncode != 0
    assert not (workdir / RESULTS / "models").exists(), "no job after the failed prefetch ran"
    logs = {name: (workdir / RESULTS / "logs" / rule / f"{name}.log").read_text() for rule, name in (
        ("prefetch_model", "tiny"), ("prefetch_task", "hub_mc"), ("prefetch_ift_data", "alpaca-hub"))}
    for name, log in logs.items():
        assert "cannot be reached from this host" in log and FETCH_HINT in log, f"{name}: {log[-3000:]}"
    assert f"base model {MODEL_ID}" in logs["tiny"] and "hub_mc" in logs["hub_mc"] and IFT_ID in logs["alpaca-hub"]
