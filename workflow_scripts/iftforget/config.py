"""Checks of a config that its JSON schema cannot express, run before any job (each error names the key)."""

from __future__ import annotations

import copy
import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

from iftforget.world import WorldConfig, build_world, check_world_config, max_people, split_sizes

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
TASKS_DIR = Path(__file__).resolve().parents[2] / "lm_eval_tasks"
SCHEMA_FILE = TASKS_DIR.parent / "schemas" / "config.schema.yaml"
RESERVED_DATASET_NAMES = ("base",)


class ConfigError(ValueError):
    """A config value that cannot run; the message names the key and what is allowed."""


# --- the JSON schema, with messages that name the dotted key and what is allowed -------------------------------


@functools.lru_cache(maxsize=4)
def _load_schema(path: str) -> dict[str, Any]:
    import yaml

    # libyaml's loader parses the schema in a few milliseconds; the pure-Python one takes 0.2 s of every invocation.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(), Loader=loader)


def _key_path(path) -> str:
    """jsonschema's path (deque of keys and indices) as the key a user writes: `base_models[0].source`."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _describe(schema: dict[str, Any]) -> str:
    """What a (sub)schema accepts, in words: `an integer >= 1`, `one of 'cpu', 'cuda'`."""
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    kinds = schema.get("type", "value")
    article = {"integer": "an integer", "array": "a list", "object": "a mapping", "boolean": "true or false"}
    text = article.get(kinds, f"a {kinds}") if isinstance(kinds, str) else " or ".join(kinds)
    bounds = [f"{op} {schema[k]}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                                                 ("exclusiveMaximum", "<")) if k in schema]
    if bounds:
        text += " " + " and ".join(bounds)
    if "pattern" in schema:
        text += f" matching {schema['pattern']!r}"
    if "minItems" in schema:
        text += f" of at least {schema['minItems']} item(s)"
    if schema.get("uniqueItems"):
        text += " without repeated items"
    if "minLength" in schema:
        text += " that is not empty"
    return text


def _schema_message(error) -> str:
    """One schema violation as `key = value: allowed ...`, with the key's description from the schema."""
    key = _key_path(error.absolute_path)
    schema = error.schema
    description = f" ({schema['description'].strip()})" if isinstance(schema.get("description"), str) else ""
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = f"{key}." if key else ""
        return (f"unknown key(s) {', '.join(where + u for u in unknown)}; the allowed keys"
                f"{' of ' + key if key else ''} are {allowed}")
    if error.validator == "required":
        return f"{key or 'the config'} needs the key(s) {error.validator_value}; {error.message}"
    if error.validator in ("oneOf", "anyOf"):
        allowed = " or ".join(_describe(sub) for sub in error.validator_value)
    elif error.validator == "uniqueItems":
        allowed = "a list without repeated items"
    else:
        allowed = _describe(schema)
    return f"{key or 'the config'} = {error.instance!r} is not allowed; allowed: {allowed}{description}"


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """A subschema with its local `$ref` (#/definitions/...) followed; the node's own keys win."""
    if "$ref" not in node:
        return node
    target: Any = root
    for part in node["$ref"].lstrip("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def fill_defaults(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> None:
    """Fill in every key's schema default, depth first, as snakemake.utils.validate does, but before anything is
    checked (so that a `required` key with a default is never missing) and with copies of the defaults (so that
    configs validated one after the other never share a list or mapping)."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if isinstance(instance, dict):
        for name, sub in schema.get("properties", {}).items():
            sub = _resolve(sub, root)
            if "default" in sub:
                instance.setdefault(name, copy.deepcopy(sub["default"]))
            if name in instance:
                fill_defaults(instance[name], sub, root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            fill_defaults(item, schema["items"], root)


def validate_schema(config: dict[str, Any], schema: str | Path = SCHEMA_FILE) -> None:
    """Check `config` against the JSON schema and fill in the defaults; a ConfigError lists every violation by
    its dotted key, its value and the allowed values."""
    from jsonschema import Draft202012Validator

    loaded = _load_schema(str(schema))
    fill_defaults(config, loaded)
    errors = sorted(Draft202012Validator(loaded).iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [_schema_message(e) for e in errors]
        raise ConfigError(lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n  " + "\n  ".join(lines))


def looks_like_local_path(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~")) or source.endswith((".json", ".jsonl"))


def check_source(key: str, source: str, keyword: str) -> None:
    """A source is the keyword, an existing local path, or something shaped like a hub id."""
    if source == keyword:
        return
    if looks_like_local_path(source) or Path(source).exists():
        if not Path(source).expanduser().exists():
            raise ConfigError(f"{key} = {source!r}: no such file or directory (use {keyword!r}, a hub id or an existing path)")
        return
    if not _HUB_ID.match(source):
        raise ConfigError(f"{key} = {source!r} is neither {keyword!r}, an existing path nor a hub id like org/name")


def _unique(key: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{key}: the name {name!r} is used twice; names must be unique")
        seen.add(name)


def check_config(config: dict[str, Any], schema: str | Path | None = SCHEMA_FILE) -> None:
    """The one check of a config before any job: the JSON schema (types, ranges, allowed values, unknown keys;
    fills in the defaults), then what the schema cannot express. Raises ConfigError naming the key and what is
    allowed. `schema=None` skips the schema (for a config validated already)."""
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
    total = config["ift"]["total_steps"]
    if steps[-1] > total:
        raise ConfigError(f"ift.steps has step {steps[-1]} beyond ift.total_steps = {total}; allowed steps are 1..{total}")

    _check_world_size(config["world"])
    try:
        check_world_config(WorldConfig.from_dict(config["world"]))
    except ValueError as error:
        raise ConfigError(str(error)) from None

    _unique("base_models", [m["name"] for m in config["base_models"]])
    _unique("ift_datasets", [d["name"] for d in config["ift_datasets"]])
    for i, model in enumerate(config["base_models"]):
        check_source(f"base_models[{i}].source", model["source"], "pretrain")
    for i, dataset in enumerate(config["ift_datasets"]):
        if dataset["name"] in RESERVED_DATASET_NAMES or dataset["name"].startswith("base-restored-"):
            raise ConfigError(f"ift_datasets[{i}].name = {dataset['name']!r} is reserved for the base model's paths; "
                              "allowed: any other name (not 'base', not starting with 'base-restored-')")
        check_source(f"ift_datasets[{i}].source", dataset["source"], "world")
    check_source("restore_corpus.source", config["restore_corpus"]["source"], "world")

    shape = config["pretrain"]["model"]
    if shape["hidden_size"] % shape["num_attention_heads"]:
        raise ConfigError(
            f"pretrain.model.num_attention_heads = {shape['num_attention_heads']} must divide "
            f"pretrain.model.hidden_size = {shape['hidden_size']}"
        )
    if shape["num_attention_heads"] % shape["num_key_value_heads"]:
        raise ConfigError(
            f"pretrain.model.num_key_value_heads = {shape['num_key_value_heads']} must divide "
            f"pretrain.model.num_attention_heads = {shape['num_attention_heads']}"
        )
    if any(m["source"] == "pretrain" for m in config["base_models"]):
        if config["training"]["max_length"] > shape["max_position_embeddings"]:
            raise ConfigError(
                f"training.max_length = {config['training']['max_length']} exceeds "
                f"pretrain.model.max_position_embeddings = {shape['max_position_embeddings']}"
            )

    template = Path(config["ift"]["chat_template"])
    if not template.exists() and not (TASKS_DIR.parent / template).exists():
        raise ConfigError(f"ift.chat_template = {str(template)!r}: no such file (relative to the working directory or the workflow)")

    world_tasks = sorted(p.stem for p in TASKS_DIR.glob("world_*.yaml"))
    for task in config["eval"]["tasks"]:
        if task.startswith("world_") and task not in world_tasks:
            raise ConfigError(f"eval.tasks: unknown world task {task!r}; the world's tasks are {world_tasks}")
    if config["training"]["device"] == "cpu" and config["training"]["precision"] == "fp16":
        raise ConfigError("training.precision = 'fp16' needs training.device = 'cuda'; use fp32 or bf16 on cpu")
    _check_processes_fit_gpus(config)
    _check_restore_corpus_is_not_probed(config)


def _check_world_size(world: dict[str, Any]) -> None:
    """People and splits that fit the world's size, with the sizes that would (before check_world_config, whose
    messages do not say what is allowed)."""
    cfg = WorldConfig.from_dict(world)
    needed = cfg.n_people + cfg.format_probe_people
    if needed > max_people():
        raise ConfigError(
            f"world.n_people + world.format_probe_people = {cfg.n_people} + {cfg.format_probe_people} is too large; "
            f"allowed: at most {max_people()} in total (the distinct names the name pools make)"
        )
    if set(cfg.split) != {"ift", "eval", "hold"} or abs(sum(cfg.split.values()) - 1.0) > 1e-6:
        return  # check_world_config names these
    empty = [name for name, size in split_sizes(cfg).items() if size < 1]
    if empty:
        enough = next((n for n in range(cfg.n_people, max_people() + 1)
                       if min(split_sizes(WorldConfig.from_dict({**world, "n_people": n})).values()) >= 1), None)
        raise ConfigError(
            f"world.split.{empty[0]} = {cfg.split[empty[0]]} gives no person with world.n_people = {cfg.n_people}; "
            f"allowed: world.n_people >= {enough} with these fractions, or a larger world.split.{empty[0]}"
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
    if corpus == "world" or not any(t.startswith("world_") for t in config["eval"]["tasks"]):
        return
    path = Path(corpus).expanduser()
    if not path.exists():
        return  # not a local file (a hub id); check_source has rejected a missing local path
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl", ".txt"))
    world = build_world(WorldConfig.from_dict(config["world"]))
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
                        "(biographies of P_hold), a hub id, or local text that mentions no P_eval or format-probe person"
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
    external = {t for t in tasks if not t.startswith("world_")}
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
