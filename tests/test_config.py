"""The config schema: every key documented with a default, and bad configs stopped before any job, naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from conftest import REPO, run_snakemake
from iftforget.config import ConfigError, check_config

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
    without_default = [k for k, sub in keys if "default" not in sub and not k.startswith(("base_models.", "ift_datasets."))]
    assert undocumented == []
    assert without_default == []


def test_defaults_fill_an_empty_config():
    config: dict = {}
    validate(config, str(SCHEMA))
    check_config(config)
    assert config["ift"]["steps"] == [25, 50, 100, 200, 400]
    assert config["trust_remote_code"] is False


def test_default_config_is_valid():
    check_config(load_default())


def with_change(path: str, value) -> dict:
    config = load_default()
    node = config
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return config


# (dotted key, bad value, text the error must contain). One line per mistake a user makes.
BAD_CONFIGS = [
    ("ift.steps", [50, 25, 100], "ift.steps"),
    ("ift.steps", [25, 25, 100], "ift.steps"),
    ("ift.steps", [25, 500], "ift.total_steps"),
    ("ift.learning_rate", 0, "learning_rate"),
    ("restore.learning_rate", -1e-4, "learning_rate"),
    ("restore.steps", 0, "steps"),
    ("pretrain.steps", -5, "steps"),
    ("eval.tasks", ["world_nonexistent"], "world_nonexistent"),
    ("base_models", [{"name": "m", "source": "./no/such/model"}], "base_models[0].source"),
    ("world.split", {"ift": 0.5, "eval": 0.5, "hold": 0.5}, "world.split"),
    ("world.n_people", 20000, "world.n_people"),
    ("ift.batch_size", "32", "batch_size"),
    ("ift.learning_rate_typo", 1e-3, "learning_rate_typo"),
    ("pretrain.model.num_attention_heads", 3, "pretrain.model.num_attention_heads"),
    ("training.device", "tpu", "device"),
    ("training.precision", "fp16", "training.precision"),
    ("ift_datasets", [{"name": "base", "source": "world"}], "ift_datasets[0].name"),
    ("base_models", [{"name": "a", "source": "pretrain"}, {"name": "a", "source": "pretrain"}], "base_models"),
    ("seeds", [0, 0], "seeds"),
    ("results_dir", "/absolute/path", "results_dir"),
]


@pytest.mark.parametrize("key, value, expected", BAD_CONFIGS, ids=[f"{k}={v!r}"[:60] for k, v, _ in BAD_CONFIGS])
def test_bad_config_is_rejected_naming_the_key(key, value, expected):
    config = with_change(key, value)
    with pytest.raises(Exception) as error:
        validate(config, str(SCHEMA))
        check_config(config)
    message = str(error.value)
    assert expected in message or expected.split(".")[-1] in message, message


def test_bad_config_stops_snakemake_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"ift": {"steps": [25, 500], "total_steps": 400}}))
    result = run_snakemake("-n", "--cores", "1", "--configfile", str(REPO / "config.yaml"), str(bad),
                           "--directory", str(tmp_path), check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "ift.steps" in output and "ift.total_steps" in output
    assert "Job stats" not in output, "no job was scheduled"
