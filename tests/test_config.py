"""The config schema: every key documented with a default, and bad configs stopped before any job, naming the key: a
bad key when Snakemake reads the workflow (`-n` too), bad data that the config names when the run starts."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from conftest import REPO, config_args, run_snakemake, smoke_config
from iftforget.config import check_config, check_data
from iftforget.schema import ConfigError
from iftforget.world import WorldConfig, build_world

pytestmark = pytest.mark.workflow

SCHEMA = REPO / "schemas" / "config.schema.yaml"


def load_default() -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(SCHEMA))
    return config


def resolve(node: dict, schema: dict) -> dict:
    if "$ref" in node:
        target = schema
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def walk_properties(node: dict, schema: dict, prefix: str = ""):
    for key, sub in node.get("properties", {}).items():
        sub = resolve(sub, schema)
        yield f"{prefix}{key}", sub
        yield from walk_properties(sub, schema, f"{prefix}{key}.")


def test_every_key_has_a_description_and_a_default():
    schema = yaml.safe_load(SCHEMA.read_text())
    keys = list(walk_properties(schema, schema))
    assert len(keys) > 50
    undocumented = [k for k, sub in keys if not sub.get("description")]
    entries = ("base_models.", "ift_datasets.")  # keys of list entries: the list itself has the default
    without_default = [k for k, sub in keys if "default" not in sub and not k.startswith(entries)]
    assert undocumented == []
    assert without_default == []


def test_defaults_fill_an_empty_config():
    config: dict = {}
    check_config(config)
    assert config["ift"]["steps"] == [8, 16, 32, 64, 128, 256]
    assert config["trust_remote_code"] is False


def test_default_config_is_valid():
    check_config(load_default())


def with_changes(changes: dict) -> dict:
    """The default config with each dotted key set to its value (a key that does not exist yet is added)."""
    config = load_default()
    for path, value in changes.items():
        node = config
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node[last] = copy.deepcopy(value)  # the check fills in defaults: never into a constant of this file
    return config


def probed_person(world_block: dict) -> str:
    """A person of the world's P_eval: the probes ask about them, so no restoration text may mention them."""
    world = build_world(WorldConfig.from_config(world_block))
    return next(p.name for p in world.people if p.split == "eval")


# One line per mistake a user makes: (changes to the default config, the key the error must name, text of the
# allowed values it must give). Each is rejected by check_config, which rules/common.smk runs before the DAG is built
# (so `snakemake -n` stops on it too) and which reads no data.
WORLD_LLAMA = {"name": "world-llama", "source": "pretrain"}
BAD_CONFIGS = [
    ({"ift.steps": [50, 25, 100]}, "ift.steps", "strictly ascending"),
    ({"ift.steps": [25, 25, 100]}, "ift.steps", "without duplicates"),
    ({"ift.steps": [25, 500]}, "ift.total_steps", "allowed steps are 1..256"),
    ({"ift.steps": []}, "ift.steps", "at least 1 item"),
    ({"ift.steps": [4, 8.0, 16]}, "ift.steps[1] = 8.0", "an integer >= 1"),
    ({"ift.learning_rate": 0}, "ift.learning_rate", "a number > 0"),
    ({"restore.learning_rate": -1e-4}, "restore.learning_rate", "a number > 0"),
    ({"restore.steps": 0}, "restore.steps", "an integer >= 1"),
    ({"pretrain.steps": -5}, "pretrain.steps", "an integer >= 1"),
    ({"ift.total_steps": 0}, "ift.total_steps", "an integer >= 1"),
    ({"eval.tasks": ["world_nonexistent"]}, "eval.tasks", "'world_mc_completion'"),
    ({"eval.batch_size": "big"}, "eval.batch_size", "an integer >= 1 or a string matching '^auto"),
    ({"base_models": [{"name": "m", "source": "./no/such/model"}]}, "base_models[0].source",
     "a hub id or an existing path"),
    ({"base_models": [{"name": "m"}]}, "base_models[0]", "'source'"),
    ({"world.split": {"ift": 0.5, "eval": 0.5, "hold": 0.5}}, "world.split", "fractions summing to 1"),
    ({"world.n_people": 20000}, "world.n_people", "at most 7098"),
    ({"world.n_people": 3}, "world.split.eval", "world.n_people >= 4"),
    # Batch sizes are per process, so no GPU count fails to divide a batch; more processes than GPUs is the mistake.
    ({"training.device": "cuda", "training.precision": "bf16", "resources.train.gpus": 2, "training.processes": 3},
     "training.processes", "1..2 processes"),
    ({"ift.batch_size": "32"}, "ift.batch_size", "an integer >= 1"),
    ({"training.gradient_checkpointing": "yes"}, "training.gradient_checkpointing", "true or false"),
    ({"ift.learning_rate_typo": 1e-3}, "ift.learning_rate_typo", "'learning_rate'"),
    ({"trust_remote_cod": True}, "trust_remote_cod", "'trust_remote_code'"),
    ({"pretrain.model.num_attention_heads": 3}, "pretrain.model.num_attention_heads",
     "must divide pretrain.model.hidden_size"),
    ({"training.device": "tpu"}, "training.device", "one of 'cpu', 'cuda', 'auto'"),
    ({"training.precision": "fp16"}, "training.precision", "use fp32 or bf16"),
    ({"base_models": [{"name": "a", "source": "pretrain"}, {"name": "a", "source": "pretrain"}]}, "base_models",
     "names must be unique"),
    ({"seeds": [0, 0]}, "seeds", "without repeated items"),
    ({"results_dir": "/absolute/path"}, "results_dir", "relative to the working directory"),
    ({"results_dir": "results/../../elsewhere"}, "results_dir", "relative to the working directory without '..'"),
    ({"hub_token_env": "HF-TOKEN"}, "hub_token_env", "matching"),
    ({"restore.threads": 0}, "restore.threads", "integer or null >= 1"),
    ({"training.lm_head_loss": "chunked"}, "training.lm_head_loss", "one of 'auto', 'fused', 'full_logits'"),
    ({"replicates": [0, 0]}, "replicates", "without repeated items"),
    ({"restore.sweep_steps": [3]}, "restore.sweep_steps", "steps of ift.steps"),
    ({"restore.sweep_budgets": [0]}, "restore.sweep_budgets[0]", "an integer >= 1"),
    ({"restore.sweep_datasets": ["qa"]}, "restore.sweep_datasets", "names in ift_datasets"),
    ({"restore.extra_budgets": [{"budget": 800, "steps": [3]}]}, "restore.extra_budgets[0].steps",
     "steps of ift.steps"),
    ({"restore.extra_budgets": [{"budget": 50, "steps": [256]}]}, "restore.extra_budgets[0].budget",
     "a budget not yet restored"),
    ({"restore.extra_budgets": [{"budget": 800}]}, "restore.extra_budgets[0]", "'steps'"),
    ({"world.name_pools": "mixed"}, "world.name_pools", "one of 'disjoint', 'shared'"),
    # Restoration arms: their names name the restored models' folders, and each source is one corpus.
    ({"restore.arms": [{"name": "a"}, {"name": "a", "datasets": ["qa-mix"]}]}, "restore.arms", "names must be unique"),
    ({"restore.arms": [{"name": "hold-bios"}]}, "restore.arms[0].name", "a name of its own"),
    ({"restore.arms": [{"name": "a", "datasets": ["qa"]}]}, "restore.arms[0].datasets", "names in ift_datasets"),
    ({"restore.arms": [{"name": "a", "source": "org/corpus"}]}, "restore.arms[0].source", "one of 'world-fresh'"),
    ({"restore.arms": [{"name": "a"}, {"name": "b"}]}, "restore.arms[1].source", "one arm per source"),
    ({"restore.arms": [{"source": "world-fresh"}]}, "restore.arms[0]", "'name'"),
    ({"restore.arms": [{"name": "a"}], "world.n_people": 1500, "world.split": {"ift": 0.5, "eval": 0.1, "hold": 0.4}},
     "restore.arms[0].source", "fewer people in P_ift or P_hold"),
    ({"world.n_people": 3000}, "world.name_pools", "world.name_pools = 'shared'"),
    ({"ift_datasets": [{"name": "d", "source": "world", "generic_fraction": 1.5}]}, "ift_datasets[0].generic_fraction",
     "a number >= 0 and <= 1"),
    ({"analysis.equivalence_margin": {"world_completion": "small"}}, "analysis.equivalence_margin.world_completion",
     "a number > 0"),
    ({"analysis.equivalence_margin": {"default": -0.1}}, "analysis.equivalence_margin.default", "a number > 0"),
    ({"ift.keep_trainer_state": "some"}, "ift.keep_trainer_state", "one of 'all', 'last', 'none'"),
    ({"training.save_dtype": "int8"}, "training.save_dtype", "one of 'float32', 'bfloat16', 'float16', 'auto'"),
    ({"training.report_to": "wandb"}, "training.report_to", "one of 'none', 'tensorboard'"),
    ({"ift.keep_models": "first"}, "ift.keep_models", "one of 'all', 'last', 'none'"),
    ({"restore.keep_models": "last"}, "restore.keep_models", "one of 'all', 'none'"),
    # A trainer state is only used with its model: it may not be kept longer (the default keeps every state).
    ({"ift.keep_models": "none"}, "ift.keep_trainer_state", "keep_trainer_state 'none'"),
    ({"ift.keep_models": "last"}, "ift.keep_trainer_state", "keep_trainer_state 'none' or 'last'"),
    ({"base_models": [{"name": "m", "source": "pretrain", "parameters": -1}]}, "base_models[0].parameters",
     "a number >= 0"),
    ({"costs": {"train_mfu": 1.5}}, "costs.train_mfu", "a number > 0 and <= 1"),
    ({"costs": {"gpu_peak_tflops": 0}}, "costs.gpu_peak_tflops", "a number > 0"),
    ({"costs": {"eval_tokens": {"mmlu": 0}}}, "costs.eval_tokens.mmlu", "an integer >= 1"),
    # A revision pins a hub repository; on a keyword or a local path it would be ignored without a word.
    ({"base_models": [{"name": "m", "source": "pretrain", "revision": "main"}]}, "base_models[0].revision",
     "is the keyword 'pretrain', not a hub id; allowed: ''"),
    ({"base_models": [{"name": "m", "source": str(REPO / "templates"), "revision": "v1"}]}, "base_models[0].revision",
     "is a local path, not a hub id; allowed: ''"),
    ({"restore_corpus.revision": "main"}, "restore_corpus.revision", "is the keyword 'world'"),
    ({"ift_datasets": [{"name": "d", "source": "org/data", "revision": "a commit"}]}, "ift_datasets[0].revision",
     "matching"),
    # A base model pre-trained here with its own architecture and pre-training (WORLD_LLAMA is the default one).
    ({"base_models": [WORLD_LLAMA, {"name": "w", "source": "pretrain", "model": {"hidden_size": 4}}]},
     "base_models[1].model.hidden_size = 4", "integer or null >= 8"),
    ({"base_models": [WORLD_LLAMA, {"name": "w", "source": "pretrain", "model": {"hidden_size": 130}}]},
     "base_models[1].model.hidden_size = 130", "pretrain.model.num_attention_heads = 4 must divide"),
    ({"base_models": [WORLD_LLAMA, {"name": "w", "source": "pretrain", "model": {"num_key_value_heads": 3}}]},
     "base_models[1].model.num_key_value_heads = 3", "must divide pretrain.model.num_attention_heads = 4"),
    ({"base_models": [WORLD_LLAMA, {"name": "w", "source": "pretrain", "model": {"max_position_embeddings": 128}}]},
     "base_models[1].model.max_position_embeddings = 128", "training.max_length = 256 exceeds"),
    ({"base_models": [WORLD_LLAMA, {"name": "w", "source": "pretrain", "model": {"hidden": 64}}]},
     "base_models[1].model.hidden", "'hidden_size'"),
    ({"base_models": [WORLD_LLAMA, {"name": "w", "source": "pretrain", "steps": 0}]}, "base_models[1].steps",
     "integer or null >= 1"),
    ({"base_models": [WORLD_LLAMA, {"name": "w", "source": "pretrain", "learning_rate": 0}]},
     "base_models[1].learning_rate", "number or null > 0"),
    ({"base_models": [WORLD_LLAMA, {"name": "w", "source": "pretrain", "schedule": "fast"}]}, "base_models[1].schedule",
     "'cosine', 'cosine_with_min_lr'"),
    ({"base_models": [{"name": "m", "source": "org/model", "steps": 100}]}, "base_models[0].steps = 100",
     "for source pretrain only"),
    ({"base_models": [{"name": "m", "source": "org/model", "model": {"hidden_size": 64}}]},
     "base_models[0].model.hidden_size = 64", "for source pretrain only"),
    # IFT variants: their names name their folders (beside the ift block's, their analysis beside the arms'), and
    # each is a recipe of its own.
    ({"ift.variants": [{"name": "a", "learning_rate": 1e-4}, {"name": "a", "learning_rate": 2e-4}]},
     "ift.variants[1].name = 'a'", "names must be unique"),
    ({"ift.variants": [{"name": "default", "learning_rate": 1e-4}]}, "ift.variants[0].name = 'default'",
     "a name of its own"),
    ({"ift.variants": [{"name": "hold-bios", "learning_rate": 1e-4}]}, "ift.variants[0].name = 'hold-bios'",
     "a name no corpus has"),
    ({"ift.variants": [{"name": "a", "learning_rate": 1e-4}], "restore.arms": [{"name": "a"}]},
     "ift.variants[0].name = 'a'", "a name no corpus has"),
    ({"ift.variants": [{"name": "a/b", "learning_rate": 1e-4}]}, "ift.variants[0].name", "matching"),
    ({"ift.variants": [{"learning_rate": 1e-4}]}, "ift.variants[0]", "'name'"),
    ({"ift.variants": [{"name": "a", "learning_rate": 0}]}, "ift.variants[0].learning_rate", "number or null > 0"),
    ({"ift.variants": [{"name": "a", "schedule": "fast"}]}, "ift.variants[0].schedule", "'cosine'"),
    ({"ift.variants": [{"name": "a", "steps": [8, 16]}]}, "ift.variants[0].steps", "'learning_rate'"),
    ({"ift.variants": [{"name": "a", "learning_rate": 1e-4, "base_models": ["b"]}]}, "ift.variants[0].base_models",
     "names in base_models ['world-llama']"),
    ({"ift.variants": [{"name": "a", "learning_rate": 1e-4, "datasets": ["qa"]}]}, "ift.variants[0].datasets",
     "names in ift_datasets ['qa-mix']"),
    ({"ift.variants": [{"name": "a"}]}, "ift.variants[0] ('a') trains the ift block's own recipe",
     "differs from the ift block's for at least one of learning_rate"),
    ({"ift.variants": [{"name": "a", "learning_rate": 1.0e-3, "schedule": "constant"}]}, "ift.variants[0] ('a')",
     "differs from the ift block's"),
    ({"ift.variants": [{"name": "a", "learning_rate": 1e-4}, {"name": "b", "learning_rate": 1e-4, "batch_size": 32}]},
     "ift.variants[1] ('b') trains the recipe of ift.variants[0] ('a')", "a recipe of its own"),
]


def catalogue_id(changes: dict) -> str:
    return ",".join(f"{k}={v!r}" for k, v in changes.items())[:70]


@pytest.mark.parametrize("changes, key, allowed", BAD_CONFIGS, ids=[catalogue_id(c) for c, _, _ in BAD_CONFIGS])
def test_bad_config_is_rejected_naming_the_key_and_the_allowed_values(changes, key, allowed):
    config = with_changes(changes)
    with pytest.raises(ConfigError) as error:
        check_config(config)
    message = str(error.value)
    assert key in message, f"the error names {key}: {message}"
    assert allowed in message, f"the error gives the allowed values ({allowed}): {message}"


# What the config names, read by check_data when a run starts (the Snakefile's onstart), not while the DAG is built:
# (a maker of the changes, in a folder for a config of that world block; the key the error must name; text of the
# allowed values it must give).
def probed_corpus(folder: Path, world_block: dict) -> dict:
    """A local restoration corpus that mentions a P_eval person."""
    corpus = folder / "corpus.jsonl"
    corpus.write_text(json.dumps({"text": "A plain sentence."}) + "\n"
                      + json.dumps({"text": f"{probed_person(world_block)} was born in a city."}) + "\n")
    return {"restore_corpus.source": str(corpus)}


def folder_without_a_model(folder: Path, world_block: dict) -> dict:
    """A local base model folder that holds no model (an empty folder)."""
    model = folder / "model"
    model.mkdir()
    return {"base_models": [{"name": "m", "source": str(model)}]}


BAD_DATA = [
    (probed_corpus, "restore_corpus.source", "'world' (biographies of P_hold)"),
    (folder_without_a_model, "base_models[0] (m: ", "a folder written by save_pretrained"),
]


@pytest.mark.parametrize("make, key, allowed", BAD_DATA, ids=[make.__name__ for make, _, _ in BAD_DATA])
def test_bad_data_is_rejected_when_the_run_starts_naming_the_key(make, key, allowed, tmp_path):
    config = with_changes(make(tmp_path, load_default()["world"]))
    check_config(config)  # reads no data: nothing to say while the DAG is built
    with pytest.raises(ConfigError) as error:
        check_data(config)
    message = str(error.value)
    assert key in message, f"the error names {key}: {message}"
    assert allowed in message, f"the error gives the allowed values ({allowed}): {message}"


def test_a_restoration_corpus_without_probed_people_is_accepted(tmp_path):
    """The overlap check looks at names, not at the corpus being local: P_hold's own biographies pass."""
    config = load_default()
    world = build_world(WorldConfig.from_config(config["world"]))
    corpus = tmp_path / "hold.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"{p.name} studied at a university."}) + "\n"
                              for p in world.people if p.split == "hold"))
    config = with_changes({"restore_corpus.source": str(corpus)})
    check_config(config)
    assert check_data(config) == []


def test_every_error_of_a_config_is_listed_at_once():
    config = with_changes({"ift.learning_rate": 0, "restore.steps": 0})
    with pytest.raises(ConfigError) as error:
        check_config(config)
    assert "ift.learning_rate" in str(error.value) and "restore.steps" in str(error.value)


def nested(changes: dict) -> dict:
    """Dotted keys as the nested mapping of a config file."""
    tree: dict = {}
    for path, value in changes.items():
        node = tree
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return tree


# Through snakemake itself: a schema error (unknown key, wrong type) and errors the schema cannot express.
END_TO_END = [case for case in BAD_CONFIGS if list(case[0])[-1] in (
    "ift.steps", "world.n_people", "training.processes", "training.gradient_checkpointing", "ift.learning_rate_typo",
    "restore_corpus.revision")
    and case[1] in ("ift.total_steps", "world.split.eval", "training.processes", "training.gradient_checkpointing",
                    "ift.learning_rate_typo", "ift.steps[1] = 8.0", "restore_corpus.revision")]
END_TO_END += [case for case in BAD_CONFIGS if case[1] in ("base_models[1].model.hidden_size = 130",
                                                           "ift.variants[0].name = 'hold-bios'")]


@pytest.mark.parametrize("changes, key, allowed", END_TO_END, ids=[catalogue_id(c) for c, _, _ in END_TO_END])
def test_bad_config_stops_snakemake_before_any_job(changes, key, allowed, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(nested(changes)))
    result = run_snakemake("-n", "--cores", "1", "--configfile", str(REPO / "config.yaml"), str(bad),
                           "--directory", str(tmp_path), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert key in output and allowed in output, output
    assert "Job stats" not in output, "no job was scheduled"
    assert not (tmp_path / "results").exists(), "nothing was written"


@pytest.mark.parametrize("make, key, allowed", BAD_DATA, ids=[make.__name__ for make, _, _ in BAD_DATA])
def test_bad_data_stops_the_run_before_any_job_and_not_the_dry_run(make, key, allowed, tmp_path):
    """The dry run reads no data, so it plans the jobs; the run reads it first and stops before any job."""
    args = ["--cores", "1", *config_args(tmp_path, nested(make(tmp_path, smoke_config()["world"])))]
    planned = run_snakemake("-n", *args)
    assert "Job stats" in planned.stdout + planned.stderr and key not in planned.stdout + planned.stderr
    result = run_snakemake(*args, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "invalid config" in output and key in output and allowed in output, output
    assert not re.search(r"^\s*((local)?rule \w+:|Job \d+: )", output, re.MULTILINE), "no job started"
    assert not (tmp_path / "results").exists(), "nothing was written"


def schema_keys(*path: str) -> set[str]:
    """The keys the schema defines at a dotted path (`items` for the entries of a list)."""
    schema = yaml.safe_load(SCHEMA.read_text())
    node = schema
    for part in path:
        node = resolve(node["items"] if part == "items" else node["properties"][part], schema)
    return set(node["properties"])


def settings_classes() -> list[type]:
    """Every dataclass of the workflow's library built from a config block (it has `from_config`)."""
    import dataclasses
    import importlib
    import inspect
    import pkgutil

    import iftforget

    found = []
    for module_info in pkgutil.walk_packages(iftforget.__path__, "iftforget."):
        module = importlib.import_module(module_info.name)
        found += [cls for _, cls in inspect.getmembers(module, inspect.isclass) if cls.__module__ == module.__name__
                  and dataclasses.is_dataclass(cls) and hasattr(cls, "from_config")]
    return found


def test_settings_classes_take_every_field_from_the_schema_and_declare_no_default():
    """The schema is the one source of defaults: each settings class is built from a validated config block,
    declares no default of its own, and has no field that the config cannot set."""
    import dataclasses

    from iftforget.analysis.forgetting import AnalysisSettings
    from iftforget.data import IFTMapping
    from iftforget.evaluation import EvalSettings
    from iftforget.models import ModelShape
    from iftforget.training import StageArgs

    settable = {
        WorldConfig: schema_keys("world"),
        ModelShape: schema_keys("pretrain", "model"),
        # The shared `training` block, and what a stage's own block may set in its place.
        StageArgs: schema_keys("training") | schema_keys("pretrain") | schema_keys("ift") | schema_keys("restore")
        | {"seed"},
        EvalSettings: schema_keys("eval") | {"trust_remote_code", "attn_implementation"},
        AnalysisSettings: schema_keys("analysis"),
        IFTMapping: schema_keys("ift_datasets", "items"),
    }
    assert set(settings_classes()) == set(settable), "every settings class of the library is checked here"
    for cls, keys in settable.items():
        fields = dataclasses.fields(cls)
        assert {f.name for f in fields} <= keys, f"{cls.__name__} has fields the config cannot set"
        with_default = [f.name for f in fields if f.default is not dataclasses.MISSING
                        or f.default_factory is not dataclasses.MISSING]
        assert with_default == [], f"{cls.__name__} declares defaults of its own: {with_default}"


def test_a_pretrained_base_model_takes_its_own_settings_over_the_pretrain_block():
    from iftforget.grid import Grid

    config = with_changes({"base_models": [WORLD_LLAMA, {"name": "wide", "source": "pretrain", "steps": 40,
                                                         "schedule": "linear", "model": {"hidden_size": 256}}]})
    check_config(config)
    grid = Grid(config)
    pretrain = config["pretrain"]
    wide = grid.stages.pretrain_block("wide")
    assert wide["model"] == pretrain["model"] | {"hidden_size": 256}, "merged key by key over pretrain.model"
    assert (wide["steps"], wide["schedule"]) == (40, "linear")
    assert {key: wide[key] for key in ("learning_rate", "batch_size", "warmup_ratio", "seed")} == {
        key: pretrain[key] for key in ("learning_rate", "batch_size", "warmup_ratio", "seed")}
    assert grid.stages.stage_settings("pretrain", "wide")[0]["schedule"] == "linear"
    # A base model that sets nothing of its own is pre-trained exactly as before (the same settings, no rerun).
    assert grid.stages.pretrain_block("world-llama") == pretrain
    assert grid.stages.stage_settings("pretrain", "world-llama") == grid.stages.stage_settings("pretrain")


def test_a_base_models_own_pretraining_keys_are_those_of_the_pretrain_block_with_its_ranges():
    """base_models[].model and each own pre-training key mirror pretrain.model and the pretrain block: the same keys
    and the same allowed values, plus null (which keeps the block's)."""
    from iftforget.grid.stages import OWN_PRETRAIN_KEYS

    schema = yaml.safe_load(SCHEMA.read_text())

    def node(*path: str) -> dict:
        found = schema
        for part in path:
            found = resolve(found["items"] if part == "items" else found["properties"][part], schema)
        return found

    assert schema_keys("base_models", "items", "model") == schema_keys("pretrain", "model")
    pairs = [(("pretrain", "model", key), ("base_models", "items", "model", key))
             for key in schema_keys("pretrain", "model")]
    pairs += [(("pretrain", key), ("base_models", "items", key)) for key in OWN_PRETRAIN_KEYS]
    for block_path, own_path in pairs:
        block, own = node(*block_path), node(*own_path)
        assert own["default"] is None and own["type"] == [block["type"], "null"], own_path
        constraints = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
        assert {k: block.get(k) for k in constraints} == {k: own.get(k) for k in constraints}, own_path
        assert own.get("enum", [None])[:-1] == block.get("enum", []), own_path


# Files in presets/ that are no config: the confirmatory study's predictions (read by iftforget.analysis.predictions).
NOT_CONFIGS = {"confirmatory-predictions.yaml"}


@pytest.mark.parametrize("preset", sorted({path.name for path in (REPO / "presets").glob("*.yaml")} - NOT_CONFIGS))
def test_every_preset_passes_the_config_check_as_its_usage_line_layers_it(preset):
    """Each committed preset, layered as the command in its header says (after config.yaml, which the Snakefile
    always reads first), is a valid config: a preset that stopped validating would fail its user at the first run."""
    from iftforget.config import load_config_files

    header = (REPO / "presets" / preset).read_text()
    usage = re.search(r"--configfile ((?:\S+\.yaml\s*)+)", header)
    assert usage, f"{preset} names no --configfile command in its header"
    files = [name for name in usage.group(1).split() if name != "config.yaml"]
    assert f"presets/{preset}" in files, f"{preset}'s usage line does not name it"
    check_config(load_config_files([REPO / "config.yaml", *(REPO / name for name in files)]))
