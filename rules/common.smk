# Config validation, the grid, and the input functions shared by the rules.

import json
import shlex
import sys
from pathlib import Path

SCRIPTS = Path(workflow.basedir) / "workflow_scripts"
# The adapters run as `python -m <script>` in every job's shell (and the Snakefile imports the library): the
# workflow's own folder is on the path wherever the working directory is, without absolute paths in the rules.
sys.path.insert(0, str(SCRIPTS))
from iftforget.config import ConfigError, check_config, check_lm_eval_tasks
from iftforget.grid import WORLD_FILES, Grid, parse_model_path

try:
    check_config(config)
    check_lm_eval_tasks(config["eval"]["tasks"], config["eval"]["include_path"])
except ConfigError as error:
    raise WorkflowError(f"invalid config: {error}") from None

GRID = Grid(config)
RESULTS = config["results_dir"]
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
# Every job: `set -euo pipefail` (Snakemake's default), the adapters on the path, and the datasets cache inside
# the working directory, so that jobs write nowhere else (hub downloads too; HF_HOME still locates models).
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(str(SCRIPTS))};"
    f" export HF_DATASETS_CACHE={shlex.quote(RESULTS)}/cache/datasets TOKENIZERS_PARALLELISM=false"
    f" TORCHINDUCTOR_CACHE_DIR={shlex.quote(RESULTS)}/cache/torchinductor"
    f" TRITON_CACHE_DIR={shlex.quote(RESULTS)}/cache/triton MPLCONFIGDIR={shlex.quote(RESULTS)}/cache/matplotlib; "
)

# A hub token is read from the environment only (transformers reads HF_TOKEN); never from a config file.
if config["hub_token_env"]:

    envvars:
        config["hub_token_env"],


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    dataset="[A-Za-z0-9][A-Za-z0-9_.-]*",
    corpus="[A-Za-z0-9][A-Za-z0-9_.-]*",
    seed=r"\d+",
    step=r"\d+",
    task="[A-Za-z0-9_]+",


def launcher(gpus):
    """How a training script starts: plain python, or one process per GPU of the job (training.processes
    overrides the count, e.g. 2 processes on CPU) through accelerate (DDP, or FSDP with its config) or torchrun."""
    processes = config["training"]["processes"] or gpus
    if processes <= 1:
        return "python -m"
    if config["training"]["launcher"] == "torchrun":
        return f"torchrun --standalone --nproc_per_node {processes} -m"
    accelerate_config = config["training"]["accelerate_config"]
    config_option = f" --config_file {shlex.quote(accelerate_config)}" if accelerate_config else ""
    return f"accelerate launch --num_processes {processes}{config_option} -m"


def all_targets():
    return GRID.eval_files() + [GRID.summary_file()]


def as_json(value):
    """A params value handed to a script as one shell-quoted JSON argument."""
    return json.dumps(value, sort_keys=True)


def ift_dataset_file(wildcards):
    """The chat data of an IFT dataset: the world's, or the external one mapped by rule prepare_ift_data."""
    source = GRID.datasets[wildcards.dataset]["source"]
    if source == "world":
        return GRID.world_file("ift")
    return f"{RESULTS}/data/ift/{wildcards.dataset}.jsonl"


def restore_corpus_file():
    """The restoration corpus: the world's P_hold biographies, or the sample written by prepare_restore_corpus."""
    corpus = config["restore_corpus"]
    if corpus["source"] == "world":
        return GRID.world_file("restore")
    return f"{RESULTS}/data/restore/{corpus['name']}.jsonl"


def corpus_tokenizer(wildcards):
    """The first base model's tokenizer counts the restoration sample's tokens."""
    return GRID.model_location(f"{config['base_models'][0]['name']}/base")


def corpus_tokenizer_input(wildcards):
    return GRID.model_inputs(f"{config['base_models'][0]['name']}/base")


def ift_segment_dir(wildcards, step):
    return GRID.model_dir(f"{wildcards.model}/{wildcards.dataset}/seed{wildcards.seed}/ift-step{step}")


def ift_previous(wildcards):
    """What an IFT segment resumes from: the previous grid step's model and trainer state, or the base model."""
    previous = GRID.previous_step(int(wildcards.step))
    if previous == 0:
        return {"model": GRID.model_inputs(f"{wildcards.model}/base")}
    model = ift_segment_dir(wildcards, previous)
    return {"model": model, "state": GRID.trainer_state_dir(model)}


def chat_template_file():
    """ift.chat_template: a path in the working directory, or else one shipped with the workflow (templates/)."""
    path = Path(config["ift"]["chat_template"])
    return str(path if path.exists() else Path(workflow.basedir) / path)


def ift_start_model(wildcards):
    return GRID.model_location(f"{wildcards.model}/base")


def ift_resume_option(wildcards):
    """Command-line options naming the previous segment's outputs (none at the first grid step)."""
    previous = GRID.previous_step(int(wildcards.step))
    if previous == 0:
        return ""
    model = ift_segment_dir(wildcards, previous)
    return f"--resume {shlex.quote(model)} --resume-state {shlex.quote(GRID.trainer_state_dir(model))}"


def eval_model_inputs(wildcards):
    return GRID.model_inputs(wildcards.model_path)


def eval_world_inputs(wildcards):
    if wildcards.task.startswith("world_"):
        return [GRID.world_file(name) for name in WORLD_FILES]
    return []
