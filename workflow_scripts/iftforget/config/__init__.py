"""The checks of a config, in two parts. `check_config` runs when Snakemake reads the workflow (for `-n` and a run
with nothing to do as well) and reads no data: the JSON schema (iftforget.schema: types, ranges, allowed values, unknown
keys, the defaults filled in), then, one topic at a time, what the schema cannot express (each error names the key and
what is allowed). `check_data` runs when a run starts, before its first job (the Snakefile's `onstart`), and reads what
the config names: a local restoration corpus (no probed person in it), the base models themselves
(iftforget.preflight) and lm-eval's task files. The checks of each topic live in its module: the grid's steps, budgets
and retention (`iftforget.config.schedule`), the sources of models, datasets and corpora (`iftforget.config.sources`),
the IFT recipes (`iftforget.config.variants`), the tasks (`iftforget.config.tasks`); the results folder, the world
block, the chat template and the training devices are checked here. Also config files layered as `snakemake
--configfile A B` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iftforget.config.schedule import check_retention, check_schedule
from iftforget.config.sources import check_restore_arms, check_restore_corpus_is_not_probed, check_sources
from iftforget.config.tasks import check_lm_eval_tasks, check_world_tasks
from iftforget.config.variants import check_ift_variants
from iftforget.preflight import PreflightError, check_attention, check_models
from iftforget.schema import SCHEMA_FILE, ConfigError, validate_schema
from iftforget.tasks import WORKFLOW_DIR
from iftforget.world import WorldConfig, check_world_config


def _layer(config: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """`layer` over `config` as Snakemake layers config files: mappings merged key by key, other values replaced."""
    merged = dict(config)
    for key, value in layer.items():
        merged[key] = _layer(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def load_config_files(paths: list[str | Path]) -> dict[str, Any]:
    """Config files layered in order, as `snakemake --configfile A B` reads them (not validated yet)."""
    import yaml

    config: dict[str, Any] = {}
    for path in paths:
        config = _layer(config, yaml.safe_load(Path(path).read_text()) or {})
    return config


def check_config(config: dict[str, Any], schema: str | Path | None = SCHEMA_FILE) -> None:
    """The check of a config when the workflow is read, before the DAG is built: the JSON schema (types, ranges,
    allowed values, unknown keys; fills in the defaults), then what the schema cannot express. Reads no data (a local
    source or the chat template is only looked up). Raises ConfigError naming the key and what is allowed.
    `schema=None` skips the schema (for a config validated already). The checks run in a fixed order: of two errors,
    the first is named."""
    if schema is not None:
        validate_schema(config, schema)
    _check_results_dir(config["results_dir"])
    check_schedule(config)
    check_retention(config["ift"])
    _check_world(config["world"])
    check_restore_arms(config)
    check_sources(config)
    check_ift_variants(config)
    _chat_template(config["ift"]["chat_template"])
    check_world_tasks(config["eval"]["tasks"])
    _check_training_devices(config)
    try:
        check_attention(config["training"])
    except PreflightError as error:
        raise ConfigError(str(error)) from None


def check_data(config: dict[str, Any]) -> list[str]:
    """The checks of a config (validated by `check_config`) that read what it names: a local restoration corpus
    mentions no probed person, each base model on this machine can serve the config (iftforget.preflight), and every
    task of eval.tasks that is not a world probe is one of lm-eval's. Run when a run starts, before its first job
    (never while the DAG is built). Raises ConfigError naming the key and what is allowed; returns notes for the
    user. The checks run in a fixed order: of two errors, the first is named."""
    check_restore_corpus_is_not_probed(config)
    try:
        notes = check_models(config, _chat_template(config["ift"]["chat_template"]))
    except PreflightError as error:
        raise ConfigError(str(error)) from None
    check_lm_eval_tasks(config["eval"]["tasks"], config["eval"]["include_path"])
    return notes


def _check_results_dir(results_dir: str) -> None:
    """Every artifact is written below results_dir, which stays inside the working directory."""
    results = Path(results_dir)
    if results.is_absolute() or ".." in results.parts or results_dir.startswith("~"):
        raise ConfigError(
            f"results_dir = {results_dir!r} leaves the working directory; allowed: a folder relative to the "
            "working directory without '..' (every artifact is written below it, nothing elsewhere)"
        )


def _check_world(block: dict[str, Any]) -> None:
    """A world that can be built (iftforget.world.check_world_config), before anything is generated."""
    try:
        check_world_config(WorldConfig.from_config(block))
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _chat_template(setting: str) -> Path:
    """ift.chat_template: a file relative to the working directory, or else to the workflow."""
    template = Path(setting)
    if not template.exists():
        template = WORKFLOW_DIR / template
    if not template.exists():
        raise ConfigError(
            f"ift.chat_template = {setting!r}: no such file (relative to the working directory or the workflow)"
        )
    return template


def _check_training_devices(config: dict[str, Any]) -> None:
    """fp16 needs a GPU. Batch sizes are per device (the global batch is batch_size x processes x
    gradient_accumulation_steps), so any GPU count divides it; what can go wrong is more training processes than the
    job's GPUs, which would put two processes on one GPU (NCCL refuses that) or run out of memory."""
    if config["training"]["device"] == "cpu" and config["training"]["precision"] == "fp16":
        raise ConfigError("training.precision = 'fp16' needs training.device = 'cuda'; use fp32 or bf16 on cpu")
    processes = config["training"]["processes"]
    gpus = config["resources"]["train"]["gpus"]
    if config["training"]["device"] == "cuda" and gpus > 0 and processes > gpus:
        raise ConfigError(
            f"training.processes = {processes} exceeds resources.train.gpus = {gpus}; allowed: 0 (one process per "
            f"GPU) or 1..{gpus} processes (each process takes a GPU; batch_size is per process)"
        )
