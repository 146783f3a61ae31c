"""Shared test setup: no hub access, the smoke configuration, Snakemake runs and their job counts, settings objects
built from the schema's defaults, a smoke run of the whole workflow shared by the tests that need one (also across
pytest-xdist workers), which test files stay in one worker, and the one way tests install system packages (announced
before, listed after the run)."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import snakemake_process
import yaml

# Nothing may be downloaded in tests: the real loading code runs against local stand-ins.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Results are shared on clusters: every run in the tests writes under the common umask 022 (group and others read).
os.umask(0o022)
REPO = Path(__file__).resolve().parents[1]
# The tests import the library of this checkout, installed editable (README's install command); one installed from
# another checkout would be tested in its place.
try:
    import iftforget
except ModuleNotFoundError:
    iftforget = None
if iftforget is None or Path(iftforget.__file__).resolve().parent != REPO / "workflow_scripts" / "iftforget":
    found = "not installed" if iftforget is None else f"installed from {Path(iftforget.__file__).parent}"
    pytest.exit(f"the library iftforget is {found} in {sys.executable}; install this checkout: "
                f"pip install -r requirements.txt -e {REPO}", returncode=4)
snakemake_process.start_server()

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SMOKE_FILES = [str(REPO / "config.yaml"), str(REPO / "presets" / "smoke.yaml")]


def python_on_path(**extra: str) -> dict[str, str]:
    """The environment of a Snakemake run from the tests: its jobs run `python`, the interpreter running the tests,
    whether or not its environment is activated."""
    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            **extra}


def model_weights(folder: Path) -> dict:
    """A model folder's weights as one process loads them (tied weights under each of their names)."""
    from transformers import AutoModelForCausalLM  # imported here: most tests never load a model

    return AutoModelForCausalLM.from_pretrained(folder).state_dict()


def assert_same_weights(a: Path, b: Path, atol: float = 1e-6) -> None:
    """Two model folders hold the same weights, name by name, up to `atol` (float noise of one machine)."""
    import torch

    wa, wb = model_weights(a), model_weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=atol, msg=f"{name} differs")


def finished_run_copy(smoke_run: Path, tmp_path_factory, name: str) -> Path:
    """A copy of the finished smoke run (files, modification times and Snakemake's records), to change without
    touching the shared one."""
    copy = tmp_path_factory.mktemp(name) / "run"
    shutil.copytree(smoke_run, copy, symlinks=True)
    return copy


def run_snakemake(*args: str, cwd: Path = REPO, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the workflow's Snakefile with the given arguments; output captured for the assertion messages. The run is
    `snakemake ARGS` in a process of its own, forked from one that has imported Snakemake (snakemake_process)."""
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), *args]
    result = snakemake_process.run(command, cwd=cwd, env=python_on_path(), timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str, log: Path,
             deadline_s: float = 900) -> None:
    """Poll `condition` until it holds; fail if the process (a Snakemake run writing to `log`) ends first or the
    deadline passes."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"snakemake ended ({process.returncode}) before {what}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {deadline_s} s:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)


def job_counts(snakemake_output: str) -> dict[str, int]:
    """Jobs per rule from the 'Job stats' table of a Snakemake run or dry run (empty when nothing is to be done)."""
    if "Job stats:" not in snakemake_output:
        return {}
    table = snakemake_output.split("Job stats:", 1)[1]
    counts = {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)}
    counts.pop("total", None)
    return counts


def shell_commands(snakemake_output: str) -> list[str]:
    """The shell commands of a Snakemake run or dry run with -p (`Shell command: ...` lines; a rule without one
    prints None)."""
    return [command for command in re.findall(r"^Shell command: (.*)$", snakemake_output, flags=re.MULTILINE)
            if command != "None"]


def adapter_options(command: str) -> dict[str, Any]:
    """What a job's shell command hands its adapter (`python -m <adapter>`, after any launcher), by option name:
    a word after an option is its value (a list when there are several, True when none), --job and --execution read
    as JSON; "adapter" names the adapter (None for a command that runs none). The redirection to the job's log is
    left out."""
    words = shlex.split(command.split(" > ")[0])
    if "-m" not in words:
        return {"adapter": None}
    at = len(words) - 1 - words[::-1].index("-m")
    options: dict[str, Any] = {"adapter": words[at + 1]}
    name = None
    for word in words[at + 2:]:
        if word.startswith("--"):
            name = word
            options[name] = []
        else:
            options[name].append(word)
    for name, values in list(options.items())[1:]:
        options[name] = values[0] if len(values) == 1 else values or True
        if name in ("--job", "--execution"):
            options[name] = json.loads(options[name])
    return options


def merge_config(config: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """A config file layered on another as Snakemake does (mappings merged key by key, other values replaced)."""
    merged = copy.deepcopy(config)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def smoke_config(overrides: dict | None = None) -> dict:
    """The validated config a smoke run sees: config.yaml, the smoke preset and `overrides`."""
    from iftforget.config import check_config

    config: dict[str, Any] = {}
    for path in SMOKE_FILES:
        config = merge_config(config, yaml.safe_load(Path(path).read_text()))
    config = merge_config(config, overrides or {})
    check_config(config)
    return config


def evaluated_models_count(config: dict) -> int:
    """How many models a grid evaluates, counted from the config by the README's description of the grid (not by
    the code that builds it), for a config with one restoration budget: per base model and replicate the base, and
    per seed the control and, per IFT dataset and step, IFT@k and restored@k."""
    restore = config["restore"]
    assert not restore["extra_budgets"] and set(restore["sweep_budgets"]) <= {restore["steps"]}, "one budget"
    per_seed = 1 + len(config["ift_datasets"]) * 2 * len(config["ift"]["steps"])
    return len(config["base_models"]) * len(config["replicates"]) * (1 + len(config["seeds"]) * per_seed)


def config_args(workdir: Path, overrides: dict | None = None, name: str = "overrides") -> list[str]:
    """--configfile and --directory arguments of a smoke run in `workdir`, with `overrides` as one more file."""
    files = list(SMOKE_FILES)
    if overrides:
        extra = workdir / f"{name}.yaml"
        extra.write_text(yaml.safe_dump(overrides))
        files.append(str(extra))
    return ["--configfile", *files, "--directory", str(workdir)]


def defaults(section: str) -> dict[str, Any]:
    """A config block with the schema's defaults (settings objects in tests are built from these)."""
    from iftforget.schema import default_config

    return default_config()[section]


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder `name` that `build` fills once per test session, also when pytest-xdist runs the tests in several
    worker processes (README's test command): there the first worker to ask builds it in the session's common
    temporary folder, holding a lock, and the others wait for it and then use it. A build that failed is started
    afresh by the next worker that asks (its error is that worker's too); only a finished one is marked done."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    common = tmp_path_factory.getbasetemp().parent  # one per session, shared by its workers
    folder, done = common / name, common / f"{name}.done"
    with (common / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when this process dies
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


# A value no file of a run could contain by chance: finding it anywhere means the token leaked (test_security.py).
SECRET = "hf_SECRET-7c1e0d9a-never-written-anywhere"
# Variables that would point a run's caches and configs outside HOME.
HOME_REDIRECTS = ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HF_HOME", "HF_DATASETS_CACHE", "TORCH_HOME",
                  "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "MPLCONFIGDIR")


def run_smoke_as_a_hub_job(root: Path) -> None:
    """The smoke preset end to end in root/work, as a hub job would run: the token declared (hub_token_env) and set
    in the environment, and HOME and TMPDIR pointing at the empty folders root/home and root/tmp, so that any write
    outside the working directory shows; Snakemake's output in root/snakemake-output.txt, and the files that the
    run created in the workflow's own folder in root/written-in-workflow.json."""
    workdir, home, tmp = root / "work", root / "home", root / "tmp"
    for folder in (workdir, home, tmp):
        folder.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_TOKEN", SECRET)
        patch.setenv("HOME", str(home))
        patch.setenv("TMPDIR", str(tmp))
        for variable in (*HOME_REDIRECTS, "PYTHONDONTWRITEBYTECODE"):  # Python writes bytecode unless told not to
            patch.delenv(variable, raising=False)
        before = workflow_files()
        result = run_snakemake("--cores", "2", *config_args(workdir, {"hub_token_env": "HF_TOKEN"}), timeout=1200)
        after = workflow_files()
    (root / "snakemake-output.txt").write_text(result.stdout + result.stderr)
    (root / "written-in-workflow.json").write_text(json.dumps(sorted(after - before)))


def workflow_files() -> set[str]:
    """Every file below the workflow's own folder (but the tests' and git's): jobs import the library installed
    editable from its workflow_scripts/, where Python would write bytecode."""
    return {str(path) for path in REPO.rglob("*")
            if path.is_file() and path.relative_to(REPO).parts[0] not in ("tests", ".git", ".pytest_cache")}


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    """The smoke run's folder (run_smoke_as_a_hub_job): work/, home/, tmp/ and Snakemake's output."""
    return built_once(tmp_path_factory, "smoke", run_smoke_as_a_hub_job)


@pytest.fixture(scope="session")
def smoke_run(smoke_root) -> Path:
    """The smoke preset run end to end once per session, in a fresh working directory; returns that directory.
    Tests only read it (or copy it to change the copy): tests in another worker may read it at the same time."""
    return smoke_root / "work"


def stage_args(**overrides: Any):
    """Training settings: the schema's `training` and `ift` defaults (seed 0), with `overrides`."""
    from iftforget.schema import default_config
    from iftforget.grid import Grid
    from iftforget.training import StageArgs

    return StageArgs.from_config(Grid(default_config()).stages.stage_block("ift"), seed=0, **overrides)


def world_config(**overrides: Any):
    from iftforget.world import WorldConfig

    return WorldConfig.from_config(defaults("world") | overrides)


def model_shape(**overrides: Any):
    from iftforget.models import ModelShape

    return ModelShape.from_config(defaults("pretrain")["model"] | overrides)


TINY_SHAPE = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
              "num_key_value_heads": 2}


# --- two worker processes (pytest-xdist) ---------------------------------------------------------------------------

# Files whose tests run one after another in one worker process when the suite runs in several (`-n 2`, the
# README's test command): one SLURM test cluster on the machine at a time; module fixtures that run the workflow
# (stand-in hub, paper-scale stand-ins, sharded runs), built once rather than once per worker. Every other test is
# scheduled on its own. (pytest-xdist's xdist_group marks do not work with pytest 9: --dist loadgroup appends the
# group to a test's node id, which pytest 9 no longer lets a plugin change, so grouped tests were spread over both
# workers.)
ONE_WORKER_FILES = {"tests/test_slurm.py", "tests/test_paper_scale.py", "tests/test_offline.py",
                    "tests/test_fsdp_cpu.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scope scheduler with ONE_WORKER_FILES as scopes and every other test a scope of its own. It
    hands out the scopes with the most tests first (those files), then the single tests in collection order, to
    whichever worker has run out of work."""
    from xdist.scheduler import LoadScopeScheduling

    class FilesKeptTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in ONE_WORKER_FILES else nodeid

    return FilesKeptTogether(config, log)


# --- system packages -----------------------------------------------------------------------------------------------

# What the tests installed with apt-get in this session (package names, why), for the terminal summary.
INSTALLED_SYSTEM_PACKAGES: list[tuple[str, str]] = []
APT_LOCK = Path(tempfile.gettempdir()) / "iftforget-tests-apt-get.lock"


def install_system_packages(config: pytest.Config, packages: list[str], why: str, recommends: bool = False) -> None:
    """Install Debian packages with apt-get, announcing it on the terminal first (also under -q) and as a warning;
    docs/testing.md lists every package a test may install. Skips the calling test where that is impossible (not
    root, no apt-get, apt-get failed)."""
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        pytest.skip(f"{' '.join(packages)} not installed, and installing needs root and apt-get ({why})")
    announcement = f"installing Debian packages {' '.join(packages)} with apt-get ({why}; see docs/testing.md)"
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            if os.environ.get("PYTEST_XDIST_WORKER") is None and reporter is not None:
                reporter.write_line("")
                reporter.write_line(f"tests: {announcement}", yellow=True, bold=True)
            else:  # a pytest-xdist worker's terminal output is not shown; its standard error is
                sys.stderr.write(f"\ntests: {announcement}\n")
                sys.stderr.flush()
    warnings.warn(announcement, stacklevel=2)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", *([] if recommends else ["--no-install-recommends"]), *packages]
    # One apt-get at a time: tests in two pytest-xdist workers may install at once, and apt-get fails at once on a
    # package database that another apt-get holds.
    with open(APT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=1800)
        if done.returncode != 0:  # missing or stale package lists (a fresh container): refresh them once and retry
            subprocess.run([apt, "update"], capture_output=True, env=env, timeout=600)
            done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        pytest.skip(f"could not install {' '.join(packages)} with apt-get: {(done.stdout + done.stderr)[-1500:]}")
    INSTALLED_SYSTEM_PACKAGES.append((" ".join(packages), why))


def pytest_sessionfinish(session):
    """In a pytest-xdist worker: hand what it installed to the controller, which prints the summary."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["installed_system_packages"] = INSTALLED_SYSTEM_PACKAGES


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller, as a worker ends: what that worker installed."""
    installed = getattr(node, "workeroutput", {}).get("installed_system_packages", [])
    INSTALLED_SYSTEM_PACKAGES.extend((packages, why) for packages, why in installed)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if INSTALLED_SYSTEM_PACKAGES:
        terminalreporter.section("system packages the tests installed (they stay installed; docs/testing.md)")
        for packages, why in INSTALLED_SYSTEM_PACKAGES:
            terminalreporter.write_line(f"{packages}: {why}")


def stand_in_sentence(i: int) -> str:
    """The i-th sentence of the stand-ins' text: eight of the world's generic words."""
    from iftforget.world_text import GENERIC_WORDS

    return " ".join(GENERIC_WORDS[(i * 7 + j) % len(GENERIC_WORDS)] for j in range(8)) + "."


def write_stand_ins(root: Path) -> None:
    """Local stand-ins for what a paper-scale run takes from the hub: a tiny Llama base model on disk ("tiny-llama",
    like Llama-2 base: a tokenizer without a chat template), Alpaca-format instruction data ("alpaca.json") and a
    pre-training-format corpus ("corpus.jsonl") as local JSON files, and two local lm-eval tasks in "tasks/":
    local_mc (multiple choice) and local_text (a loglikelihood_rolling pattern probe)."""
    from iftforget.models import build_base_model
    from iftforget.tokenizer import train_tokenizer
    from iftforget.world_text import GENERIC_WORDS

    sentence = stand_in_sentence
    texts = [sentence(i) for i in range(200)]
    # A "base model" like Llama-2 base: a tokenizer without a chat template, weights on disk.
    tokenizer = train_tokenizer(texts + ["What is the next word?"], vocab_size=400)
    tokenizer.chat_template = None
    model = build_base_model(model_shape(**TINY_SHAPE), tokenizer, seed=0)
    model.save_pretrained(root / "tiny-llama")
    tokenizer.save_pretrained(root / "tiny-llama")
    # Alpaca-format instruction data and a pre-training-format corpus, as local JSON files.
    (root / "alpaca.json").write_text(json.dumps([
        {"instruction": f"Continue: {sentence(i)[:20]}", "input": "", "output": sentence(i + 1)} for i in range(40)
    ]))
    (root / "corpus.jsonl").write_text("".join(json.dumps({"text": sentence(i + 100)}) + "\n" for i in range(60)))
    # Local lm-eval tasks: multiple choice and a loglikelihood_rolling (pattern) probe.
    (root / "tasks").mkdir()
    (root / "tasks" / "mc.jsonl").write_text("".join(
        json.dumps({"query": sentence(i)[:30], "choices": [GENERIC_WORDS[i % 5], GENERIC_WORDS[(i + 1) % 5]],
                    "gold": 0}) + "\n" for i in range(12)
    ))
    (root / "tasks" / "text.jsonl").write_text(
        "".join(json.dumps({"text": sentence(i + 150)}) + "\n" for i in range(8))
    )
    (root / "tasks" / "local_mc.yaml").write_text(yaml.safe_dump({
        "task": "local_mc", "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(root / "tasks" / "mc.jsonl")}},
        "test_split": "test", "output_type": "multiple_choice", "doc_to_text": "{{query}}",
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "gold", "metric_list": [{"metric": "acc"}], "metadata": {"version": 1},
    }))
    (root / "tasks" / "local_text.yaml").write_text(yaml.safe_dump({
        "task": "local_text", "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(root / "tasks" / "text.jsonl")}},
        "test_split": "test", "output_type": "loglikelihood_rolling", "doc_to_text": "", "doc_to_target": "{{text}}",
        "metric_list": [{"metric": "bits_per_byte"}, {"metric": "word_perplexity"}], "metadata": {"version": 1},
    }))


TEST_KINDS = ("unit", "workflow", "system")  # the markers of pyproject.toml; each test file sets one (`pytestmark`)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test is of exactly one kind, so that `pytest -m unit` (or workflow, system) selects a whole group."""
    for item in items:
        kinds = sorted({mark.name for mark in item.iter_markers() if mark.name in TEST_KINDS})
        if len(kinds) != 1:
            raise pytest.UsageError(f"{item.nodeid}: a test needs exactly one of the markers {TEST_KINDS} "
                                    f"(`pytestmark = pytest.mark.<kind>` in its file), found {kinds or 'none'}")
