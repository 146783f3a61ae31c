# Config validation, the grid and its path table, the glue shared by the rules, and their input functions.

import json
import math
import os
import re
import shlex
import sys
from pathlib import Path

# Offline: Snakemake's own process (huggingface_hub would ask the hub for its registry of agents) and every job, which
# inherits it; only the prefetch_* jobs turn it off, in their commands. Set before the libraries read it at import.
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")

# The library (iftforget) and the adapters that the jobs run as `python -m <rule>` are this checkout's
# workflow_scripts/, installed editable in the environment running Snakemake and its jobs (README's install command).
SCRIPTS = Path(workflow.basedir).resolve() / "workflow_scripts"
try:
    import iftforget
except ModuleNotFoundError:
    iftforget = None
if iftforget is None or Path(iftforget.__file__).resolve().parent != SCRIPTS / "iftforget":
    found = "not installed" if iftforget is None else f"installed from {Path(iftforget.__file__).parent}"
    raise WorkflowError(
        f"this workflow's library {SCRIPTS / 'iftforget'} is {found} in this Python ({sys.executable}): install "
        f"this checkout with `pip install -r requirements.txt -e .` in {workflow.basedir} (README)"
    )
from iftforget.analysis.figure_plan import FIGURE_CATEGORIES
from iftforget.analysis.plan import CONTRAST_TABLE, LIMIT_TABLE, AnalysisPlan
from iftforget.config import check_config, check_data
from iftforget.grid import Grid
from iftforget.job_environment import export_command, job_environment
from iftforget.library_patches import cancel_scheduler_timers, check_release
from iftforget.paths import (
    ARM_POOL_PATTERN,
    DEFAULT_VARIANT,
    MODEL_PATTERNS,
    POOL_PATTERN,
    VARIANT_ARM_POOL_PATTERN,
    VARIANT_MODEL_PATTERNS,
    VARIANT_POOL_PATTERN,
    WILDCARD_CONSTRAINTS,
    model_path_regex,
    wildcard_variant,
)
from iftforget.schema import ConfigError
from iftforget.tracking import check_tracker_installed
from iftforget.world_data import WORLD_FILES
from snakemake.settings.types import DeploymentMethod

# The config itself, when the workflow is read (for `-n` too): a bad key stops here, before the DAG is built. What
# the config names (a local restoration corpus, the base models' files, lm-eval's tasks) is read when a run starts,
# by preflight() below (the Snakefile's onstart), so that building the DAG reads no data.
try:
    check_config(config)
    # With --sdm conda the jobs get their tracker from envs/train.yaml, not from this Python.
    if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
        check_tracker_installed(config["training"]["report_to"])
except ConfigError as error:
    raise WorkflowError(f"invalid config: {error}") from None
# The Snakefile's hooks cancel the scheduler's timers (iftforget.library_patches): another Snakemake release stops
# here, before any job, naming the patch.
try:
    check_release("snakemake")
except RuntimeError as error:
    raise WorkflowError(str(error)) from None

# The grid by topic (iftforget/grid/): its axes and models, the sources of its inputs, the files of its jobs, their
# settings and seeds, and what is kept.
GRID = Grid(config)
AXES, SOURCES, FILES, STAGES, RETENTION = GRID.axes, GRID.sources, GRID.files, GRID.stages, GRID.retention
# What each training and eval job is handed: its --job (tracked) and its --execution (not), iftforget.grid.job_specs.
JOBS = GRID.jobs
LAYOUT = GRID.layout
PLAN = AnalysisPlan(GRID, config["analysis"])
RESULTS = LAYOUT.root


# Jobs in conda environments (--sdm conda) run that environment's Python, in which this checkout is not installed,
# and an environment file cannot install it (docs/clusters.md#conda-environments): those jobs alone find the library
# and the adapters through PYTHONPATH.
CONDA_JOBS_PATH = (
    f" export PYTHONPATH={shlex.quote(str(SCRIPTS))};"
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else ""
)
# Every job: `set -euo pipefail` (Snakemake's default), and the environment of iftforget.job_environment: the hub,
# datasets and other libraries' caches inside the working directory and no bytecode written, so that jobs write
# nowhere else. Jobs run offline (above; compute nodes of most clusters have no internet): they read hub models and
# lm-eval's task datasets from these caches, where the prefetch_* rules (rules/prefetch.smk, local rules run where
# Snakemake runs) put them; those rules alone go online.
shell.prefix(f"set -euo pipefail;{CONDA_JOBS_PATH} {export_command(job_environment(RESULTS))} ")

# A hub token is read from the environment only (transformers reads HF_TOKEN); never from a config file.
if config["hub_token_env"]:

    envvars:
        config["hub_token_env"],


wildcard_constraints:
    **WILDCARD_CONSTRAINTS,
    model_path=model_path_regex(),


def preflight():
    """What the config names, checked when a run starts, before its first job (the Snakefile's onstart handler,
    which Snakemake calls for a run with jobs to do: not for `-n`, not when there is nothing to do, not in the jobs
    it submits): a local restoration corpus mentions no probed person, the base models on this machine can serve the
    config, eval.tasks are lm-eval's. A bad config stops the run here, naming the key (iftforget.config.check_data);
    the notes go to the user."""
    try:
        notes = check_data(config)
    except ConfigError as error:
        raise WorkflowError(f"invalid config: {error}") from None
    for note in notes:
        print(f"[config] {note}", file=sys.stderr)


# --- glue shared by the rules ---------------------------------------------------------------------------------


def growing_with_attempt(value):
    """A job's wall time or memory at its attempt: the config's value on the first attempt, times
    resources.retry_growth on each retry (the workflow profile's `retries`), so that a job killed for time or memory
    asks for more the next time. Rounded up: SLURM takes whole minutes and MB."""
    growth = config["resources"]["retry_growth"]
    return lambda wildcards, attempt: math.ceil(value * growth ** (attempt - 1))


def job_resources(block):
    """What a training or evaluation job asks of the scheduler (the profiles map these to sbatch options)."""
    return {
        "gpu": block["gpus"],
        "runtime": growing_with_attempt(block["runtime"]),
        "mem_mb": growing_with_attempt(block["mem_mb"]),
    }


TRAIN_RESOURCES = job_resources(config["resources"]["train"])
EVAL_RESOURCES = job_resources(config["resources"]["eval"])


def training_launch(wildcards, resources):
    """How a training job starts: its GPUs claimed (gpu_slots sets CUDA_VISIBLE_DEVICES; a no-op without GPUs or
    under SLURM), then plain python, or one process per GPU (training.processes overrides the count, e.g. 2
    processes on CPU) through accelerate (DDP, or FSDP with its config) or torchrun."""
    processes = config["training"]["processes"] or resources.gpu
    if processes <= 1:
        launcher = "python -m"
    elif config["training"]["launcher"] == "torchrun":
        launcher = f"torchrun --standalone --nproc_per_node {processes} -m"
    else:
        accelerate_config = config["training"]["accelerate_config"]
        # Without a config file accelerate starts a single process where it finds fewer GPUs than processes (on CPU
        # always): --multi_gpu is its multi-process launcher (gloo on CPU). A config file (FSDP) names its own.
        mode = f" --config_file {shlex.quote(accelerate_config)}" if accelerate_config else " --multi_gpu"
        launcher = f"accelerate launch --num_processes {processes}{mode} -m"
    return f"python -m gpu_slots --gpus {resources.gpu} -- {launcher}"


def single_process_launch(wildcards, resources):
    """How an evaluation job starts: its GPUs claimed, then one python process."""
    return f"python -m gpu_slots --gpus {resources.gpu} -- python -m"


def as_json(value):
    """A params value handed to a script as one shell-quoted JSON argument."""
    return json.dumps(value, sort_keys=True)


def trainer_state(keep, variant=DEFAULT_VARIANT):
    """An IFT segment's trainer state: kept, or temp() (deleted once the next segment has used it). `variant`:
    "{variant}" for the segments of the IFT variants (their own paths)."""
    state = directory(LAYOUT.pattern("trainer_state", kind="ift", variant=variant))
    return state if keep else temp(state)


def model_output(kind, keep, variant=DEFAULT_VARIANT):
    """A model folder: kept, or temp() (deleted by Snakemake once every job that reads it has run; its eval JSONs
    are the cache, and a later job that needs it again rebuilds it). `variant`: "{variant}" for the models of the
    IFT variants (their own paths)."""
    model = directory(LAYOUT.pattern("model", kind=kind, variant=variant))
    return model if keep else temp(model)


def chat_template_file():
    """ift.chat_template: a path in the working directory, or else one shipped with the workflow (templates/)."""
    path = Path(config["ift"]["chat_template"])
    return str(path if path.exists() else Path(workflow.basedir) / path)


def ift_previous(wildcards):
    """What an IFT segment resumes from: the previous grid step's model and trainer state (of the same recipe), or
    the base model."""
    previous = AXES.previous_step(int(wildcards.step))
    replicate = int(wildcards.replicate)
    if previous == 0:
        base = AXES.base(wildcards.model, replicate)
        return {"model": FILES.model_inputs(base), "prefetched": prefetched(base)}
    segment = AXES.ift(
        wildcards.model, wildcards.dataset, replicate, int(wildcards.seed), previous, wildcard_variant(wildcards)
    )
    inputs = {"model": LAYOUT.path("model", model=segment), "state": LAYOUT.path("trainer_state", model=segment)}
    if STAGES.stage_block("ift")["save_dtype"] == "auto":  # every segment reads the base model's dtype
        inputs["prefetched"] = prefetched(AXES.base(wildcards.model, replicate))
    return inputs


def ift_resume_option(wildcards, input):
    """Command-line options naming the previous segment's outputs (none at the first grid step)."""
    if AXES.previous_step(int(wildcards.step)) == 0:
        return ""
    return f"--resume {shlex.quote(input.model)} --resume-state {shlex.quote(input.state)}"


def prefetched(ref):
    """The prefetch record of a hub base model, for a job that reads it (none for any other model). A prefetch that
    fetches the same commit again writes the same record, which Snakemake's input checksums tell from a new one: a
    cache refilled by `snakemake prefetch --forcerun ...` reruns nothing, a new commit reruns every job that read the
    model. (Not ancient(): Snakemake 9 then misses the jobs' own changes whenever the prefetch reruns, issue 4166.)"""
    return FILES.prefetched_model_files(ref)


def one_of(names):
    """A wildcard constraint that matches exactly these names (none at all when there are none)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def first_base_tokenizer(wildcards):
    """The first base model's tokenizer (of the first replicate) counts the restoration sample's tokens."""
    return FILES.model_location(AXES.base(config["base_models"][0]["name"], AXES.replicates[0]))


def first_base_inputs(wildcards):
    first = AXES.base(config["base_models"][0]["name"], AXES.replicates[0])
    return FILES.model_inputs(first) + prefetched(first)


def all_targets():
    """Every eval JSON of the grid, the tidy summary, the forgetting table and every figure."""
    return FILES.eval_files() + [FILES.summary_file()] + PLAN.targets()
