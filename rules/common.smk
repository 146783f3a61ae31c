# Config validation, the grid, and the input functions shared by the rules.

import json
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

SCRIPTS = Path(workflow.basedir) / "workflow_scripts"
# The adapters run as `python -m <script>` in every job's shell (and the Snakefile imports the library): the
# workflow's own folder is on the path wherever the working directory is, without absolute paths in the rules.
sys.path.insert(0, str(SCRIPTS))
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(str(SCRIPTS))}; ")

from iftforget.config import ConfigError, check_config, check_lm_eval_tasks
from iftforget.grid import WORLD_FILES, Grid, parse_model_path

validate(config, schema="../schemas/config.schema.yaml")
try:
    check_config(config)
    check_lm_eval_tasks(config["eval"]["tasks"])
except ConfigError as error:
    raise WorkflowError(f"invalid config: {error}") from None

GRID = Grid(config)
RESULTS = config["results_dir"]
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    dataset="[A-Za-z0-9][A-Za-z0-9_.-]*",
    corpus="[A-Za-z0-9][A-Za-z0-9_.-]*",
    seed=r"\d+",
    step=r"\d+",
    task="[A-Za-z0-9_]+",


def launcher(gpus):
    """How a training script starts: plain python, or accelerate with one process per GPU of the job."""
    if gpus <= 1:
        return "python -m"
    accelerate_config = config["training"]["accelerate_config"]
    config_option = f" --config_file {shlex.quote(accelerate_config)}" if accelerate_config else ""
    return f"accelerate launch --num_processes {gpus}{config_option} -m"


def all_targets():
    return GRID.eval_files() + [GRID.summary_file()]


def as_json(value):
    """A params value handed to a script as one shell-quoted JSON argument."""
    return json.dumps(value, sort_keys=True)


def ift_dataset_file(wildcards):
    source = GRID.datasets[wildcards.dataset]["source"]
    return GRID.world_file("ift") if source == "world" else source


def restore_corpus_file():
    source = config["restore_corpus"]["source"]
    return GRID.world_file("restore") if source == "world" else source


def ift_previous(wildcards):
    """The checkpoint an IFT segment resumes from: the previous grid step, or the base model at the first."""
    previous = GRID.previous_step(int(wildcards.step))
    if previous == 0:
        return GRID.model_inputs(f"{wildcards.model}/base")
    return [GRID.model_dir(f"{wildcards.model}/{wildcards.dataset}/seed{wildcards.seed}/ift-step{previous}")]


def ift_start_model(wildcards):
    return GRID.model_location(f"{wildcards.model}/base")


def ift_resume_checkpoint(wildcards):
    previous = GRID.previous_step(int(wildcards.step))
    if previous == 0:
        return ""
    return GRID.model_dir(f"{wildcards.model}/{wildcards.dataset}/seed{wildcards.seed}/ift-step{previous}")


def eval_model_inputs(wildcards):
    return GRID.model_inputs(wildcards.model_path)


def eval_world_inputs(wildcards):
    if wildcards.task.startswith("world_"):
        return [GRID.world_file(name) for name in WORLD_FILES]
    return []
