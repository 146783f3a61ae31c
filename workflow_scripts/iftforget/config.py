"""Checks of a config that its JSON schema cannot express, run before any job (each error names the key)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from iftforget.grid.retention import RETENTION_ORDER
from iftforget.grid.sources import PRETRAIN_SOURCE
from iftforget.grid.stages import OWN_PRETRAIN_KEYS, own_pretrain_block
from iftforget.hub import is_hub_id, looks_like_local_path
from iftforget.preflight import PreflightError, check_models
from iftforget.schema import SCHEMA_FILE, ConfigError, default_config, validate_schema
from iftforget.tasks import WORKFLOW_DIR, is_world_task, world_task_names
from iftforget.world import WorldConfig, build_world, check_world_config
from iftforget.world_fresh import FRESH_SOURCE, check_fresh_capacity

__all__ = ["ConfigError", "check_config", "check_lm_eval_tasks", "default_config", "load_config_files"]


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


def check_source(key: str, source: str, keyword: str) -> None:
    """A source is the keyword, an existing local path, or something shaped like a hub id."""
    if source == keyword:
        return
    if looks_like_local_path(source) or Path(source).exists():
        if not Path(source).expanduser().exists():
            raise ConfigError(
                f"{key} = {source!r}: no such file or directory (use {keyword!r}, a hub id or an existing path)"
            )
        return
    if not is_hub_id(source):
        raise ConfigError(f"{key} = {source!r} is neither {keyword!r}, an existing path nor a hub id like org/name")


def check_revision(key: str, entry: dict[str, Any], keyword: str) -> None:
    """A revision pins a hub repository; on the keyword or a local path it would be silently ignored."""
    if entry["revision"] and (entry["source"] == keyword or not is_hub_id(entry["source"])):
        kind = f"the keyword {keyword!r}" if entry["source"] == keyword else "a local path"
        raise ConfigError(
            f"{key}.revision = {entry['revision']!r} is not allowed: {key}.source = {entry['source']!r} is {kind}, not "
            f"a hub id; allowed: '' (a revision is a branch, tag or commit of a hub repository only)"
        )


def _unique(key: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{key}: the name {name!r} is used twice; names must be unique")
        seen.add(name)


def check_config(config: dict[str, Any], schema: str | Path | None = SCHEMA_FILE) -> list[str]:
    """The one check of a config before any job: the JSON schema (types, ranges, allowed values, unknown keys;
    fills in the defaults), then what the schema cannot express, and the base models themselves (preflight).
    Raises ConfigError naming the key and what is allowed; returns notes for the user. `schema=None` skips the
    schema (for a config validated already)."""
    if schema is not None:
        validate_schema(config, schema)
    results = Path(config["results_dir"])
    if results.is_absolute() or ".." in results.parts or config["results_dir"].startswith("~"):
        raise ConfigError(
            f"results_dir = {config['results_dir']!r} leaves the working directory; allowed: a folder relative to the "
            "working directory without '..' (every artifact is written below it, nothing elsewhere)"
        )
    steps = list(config["ift"]["steps"])
    if steps != sorted(steps) or len(set(steps)) != len(steps):
        raise ConfigError(f"ift.steps = {steps} is not allowed; allowed: strictly ascending steps without duplicates")
    outside = sorted(set(config["restore"]["sweep_steps"]) - set(steps))
    if outside:
        raise ConfigError(f"restore.sweep_steps has {outside}, which are not grid steps; allowed: steps of ift.steps "
                          f"{steps} (or none, for every grid step)")
    restore = config["restore"]
    datasets = [dataset["name"] for dataset in config["ift_datasets"]]
    unknown = [name for name in restore["sweep_datasets"] if name not in datasets]
    if unknown:
        raise ConfigError(f"restore.sweep_datasets has {unknown}, which are not IFT datasets; allowed: names in "
                          f"ift_datasets {datasets} (or none, for every dataset)")
    for index, extra in enumerate(restore["extra_budgets"]):
        key = f"restore.extra_budgets[{index}]"
        outside = sorted(set(extra["steps"]) - set(steps))
        if outside:
            raise ConfigError(f"{key}.steps has {outside}, which are not grid steps; allowed: steps of ift.steps "
                              f"{steps}")
        others = [restore["steps"], *restore["sweep_budgets"], *(e["budget"] for e in restore["extra_budgets"][:index])]
        if extra["budget"] in others:
            raise ConfigError(f"{key}.budget = {extra['budget']} is already a budget (restore.steps, "
                              "restore.sweep_budgets or an earlier extra budget); allowed: a budget not yet restored "
                              "(for more steps at a sweep budget, add them to restore.sweep_steps)")
    total = config["ift"]["total_steps"]
    if steps[-1] > total:
        raise ConfigError(
            f"ift.steps has step {steps[-1]} beyond ift.total_steps = {total}; allowed steps are 1..{total}"
        )

    _check_trainer_state_has_its_model(config["ift"])

    try:
        check_world_config(WorldConfig.from_config(config["world"]))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    _check_restore_arms(config)

    _unique("base_models", [m["name"] for m in config["base_models"]])
    _unique("ift_datasets", [d["name"] for d in config["ift_datasets"]])
    for i, model in enumerate(config["base_models"]):
        check_source(f"base_models[{i}].source", model["source"], "pretrain")
        check_revision(f"base_models[{i}]", model, "pretrain")
    for i, dataset in enumerate(config["ift_datasets"]):
        check_source(f"ift_datasets[{i}].source", dataset["source"], "world")
        check_revision(f"ift_datasets[{i}]", dataset, "world")
    check_source("restore_corpus.source", config["restore_corpus"]["source"], "world")
    check_revision("restore_corpus", config["restore_corpus"], "world")

    for i, model in enumerate(config["base_models"]):
        if model["source"] == PRETRAIN_SOURCE:
            _check_pretrained_shape(config, i)
        else:
            _check_no_own_pretraining(i, model)

    template = Path(config["ift"]["chat_template"])
    if not template.exists():
        template = WORKFLOW_DIR / template
    if not template.exists():
        raise ConfigError(
            f"ift.chat_template = {config['ift']['chat_template']!r}: no such file (relative to the working directory "
            "or the workflow)"
        )

    world_tasks = world_task_names()
    for task in config["eval"]["tasks"]:
        if is_world_task(task) and task not in world_tasks:
            raise ConfigError(f"eval.tasks: unknown world task {task!r}; the world's tasks are {world_tasks}")
    if config["training"]["device"] == "cpu" and config["training"]["precision"] == "fp16":
        raise ConfigError("training.precision = 'fp16' needs training.device = 'cuda'; use fp32 or bf16 on cpu")
    _check_processes_fit_gpus(config)
    _check_restore_corpus_is_not_probed(config)
    try:
        return check_models(config, template)
    except PreflightError as error:
        raise ConfigError(str(error)) from None


def _check_restore_arms(config: dict[str, Any]) -> None:
    """The further restoration corpora: names that no two corpora share (they name the restored models' folders),
    one arm per source (two would restore on the same text), known datasets, and for world-fresh a world whose name
    pools can name its fresh people."""
    arms = config["restore"]["arms"]
    main = config["restore_corpus"]["name"]
    _unique("restore.arms", [arm["name"] for arm in arms])
    datasets = [dataset["name"] for dataset in config["ift_datasets"]]
    for index, arm in enumerate(arms):
        key = f"restore.arms[{index}]"
        if arm["name"] == main:
            raise ConfigError(f"{key}.name = {arm['name']!r} is restore_corpus.name; allowed: a name of its own (the "
                              "restored models of each corpus live under its name)")
        if arm["source"] in (other["source"] for other in arms[:index]):
            raise ConfigError(f"{key}.source = {arm['source']!r} is the source of an earlier arm; allowed: one arm "
                              "per source (two would restore on the same text)")
        unknown = [name for name in arm["datasets"] if name not in datasets]
        if unknown:
            raise ConfigError(f"{key}.datasets has {unknown}, which are not IFT datasets; allowed: names in "
                              f"ift_datasets {datasets} (or none, for every dataset)")
        if arm["source"] == FRESH_SOURCE:
            try:
                check_fresh_capacity(WorldConfig.from_config(config["world"]), f"{key}.source")
            except ValueError as error:
                raise ConfigError(str(error)) from None


def _check_pretrained_shape(config: dict[str, Any], index: int) -> None:
    """The architecture of base_models[index] (its own keys merged over pretrain.model) must build, and hold
    training.max_length tokens; an error names the key that set each value, the entry's own or the block's."""
    entry = config["base_models"][index]
    shape = own_pretrain_block(config["pretrain"], entry)["model"]

    def key(name: str) -> str:
        own = (entry.get("model") or {}).get(name) is not None
        return f"base_models[{index}].model.{name}" if own else f"pretrain.model.{name}"

    for part, whole in (("num_attention_heads", "hidden_size"), ("num_key_value_heads", "num_attention_heads")):
        if shape[whole] % shape[part]:
            raise ConfigError(f"{key(part)} = {shape[part]} must divide {key(whole)} = {shape[whole]} (base model "
                              f"{entry['name']!r})")
    if config["training"]["max_length"] > shape["max_position_embeddings"]:
        raise ConfigError(
            f"training.max_length = {config['training']['max_length']} exceeds "
            f"{key('max_position_embeddings')} = {shape['max_position_embeddings']} (base model {entry['name']!r})"
        )


def _check_no_own_pretraining(index: int, entry: dict[str, Any]) -> None:
    """Pre-training settings on a base model that is not pre-trained here would be ignored without a word."""
    given = [f"{key} = {entry[key]!r}" for key in OWN_PRETRAIN_KEYS if entry.get(key) is not None]
    given += [f"model.{key} = {value!r}" for key, value in (entry.get("model") or {}).items() if value is not None]
    if given:
        raise ConfigError(
            f"base_models[{index}].{given[0]} is not allowed: base_models[{index}].source = {entry['source']!r} is not "
            f"'{PRETRAIN_SOURCE}'; allowed: null (a base model's own architecture and pre-training settings are for "
            "source pretrain only)"
        )


def _check_trainer_state_has_its_model(ift: dict[str, Any]) -> None:
    """A segment resumes from its model and its trainer state together (both are the next segment's inputs), so a
    state kept without its model is never used: Snakemake retrains the segment when a later one needs it."""
    state, models = ift["keep_trainer_state"], ift["keep_models"]
    if RETENTION_ORDER[state] > RETENTION_ORDER[models]:
        allowed = [value for value, rank in RETENTION_ORDER.items() if rank <= RETENTION_ORDER[models]]
        raise ConfigError(
            f"ift.keep_trainer_state = {state!r} keeps trainer states whose models ift.keep_models = {models!r} "
            f"deletes, and a state is only used with its model; allowed with keep_models {models!r}: "
            f"keep_trainer_state {' or '.join(repr(value) for value in allowed)} (or keep more models)"
        )


def _check_processes_fit_gpus(config: dict[str, Any]) -> None:
    """Batch sizes are per device (the global batch is batch_size x processes x gradient_accumulation_steps), so
    any GPU count divides it; what can go wrong is more training processes than the job's GPUs, which would put
    two processes on one GPU (NCCL refuses that) or run out of memory."""
    processes = config["training"]["processes"]
    gpus = config["resources"]["train"]["gpus"]
    if config["training"]["device"] == "cuda" and gpus > 0 and processes > gpus:
        raise ConfigError(
            f"training.processes = {processes} exceeds resources.train.gpus = {gpus}; allowed: 0 (one process per "
            f"GPU) or 1..{gpus} processes (each process takes a GPU; batch_size is per process)"
        )


def _check_restore_corpus_is_not_probed(config: dict[str, Any]) -> None:
    """A restoration corpus that mentions a probed person (P_eval or a format-probe person) would teach the
    probed facts or text back, and recovery would be counted where knowledge was re-taught. The world's people are
    known before it is built (it is seeded), so a local corpus file is scanned for their names here. A hub corpus
    is checked when it is sampled, not here (that needs a download); `source: world` (P_hold) never overlaps."""
    corpus = config["restore_corpus"]["source"]
    if corpus == "world" or not any(is_world_task(t) for t in config["eval"]["tasks"]):
        return
    path = Path(corpus).expanduser()
    if not path.exists():
        return  # not a local file (a hub id); check_source has rejected a missing local path
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl", ".txt"))
    world = build_world(WorldConfig.from_config(config["world"]))
    probed = {p.name: p.split for p in world.people if p.split == "eval"}
    probed.update({p.name: "format probe" for p in world.format_probe_people})
    pattern = re.compile(r"\b(" + "|".join(re.escape(name) for name in sorted(probed, key=len, reverse=True)) + r")\b")
    for file in files:
        with file.open(errors="ignore") as handle:
            for number, line in enumerate(handle, 1):
                match = pattern.search(line)
                if match:
                    raise ConfigError(
                        f"restore_corpus.source = {corpus!r} mentions the probed person {match.group(1)!r} "
                        f"({probed[match.group(1)]} split of the world) at {file}:{number}; allowed: 'world' "
                        "(biographies of P_hold), a hub id, or local text that mentions no P_eval or format-probe "
                        "person"
                    )


def _declared_in_yaml(names: set[str], folders: list[Path]) -> set[str]:
    """The names among `names` that some task YAML declares as its task, group or tag (a text scan: fast)."""
    found: set[str] = set()
    for folder in folders:
        for path in folder.rglob("*.yaml"):
            text = path.read_text(errors="ignore")
            for name in names - found:
                if name in text and re.search(
                    rf"^\s*(?:(?:task|group|tag)\s*:\s*|-\s+)['\"]?{re.escape(name)}['\"]?\s*$", text, re.MULTILINE
                ):
                    found.add(name)
            if found == names:
                return found
    return found


def check_lm_eval_tasks(tasks: list[str], include_path: str = "") -> None:
    """Names that are not world tasks must be lm-eval tasks or groups. A text scan of the task YAMLs finds known
    names in a second; only a name it misses pays for lm-eval's full task index (tens of seconds) before it is
    rejected, so a valid name is never refused and a dry run stays fast."""
    external = {t for t in tasks if not is_world_task(t)}
    if not external:
        return
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("eval.tasks names lm-eval tasks but lm-eval is not installed")
    folders = [Path(list(spec.submodule_search_locations)[0]) / "tasks"]
    if include_path:
        if not Path(include_path).is_dir():
            raise ConfigError(f"eval.include_path = {include_path!r} is not a folder")
        folders.insert(0, Path(include_path))
    missing = external - _declared_in_yaml(external, folders)
    if not missing:
        return
    from lm_eval.tasks import TaskManager

    known = set(TaskManager(include_path=include_path or None).all_tasks)
    unknown = sorted(missing - known)
    if unknown:
        raise ConfigError(f"eval.tasks: {unknown} are neither world tasks nor lm-eval tasks (see `lm-eval ls tasks`)")
