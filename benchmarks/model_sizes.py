"""The base models' sizes for the cost planner (benchmarks/cost_model.py): each base model's parameter count and the
dtype its weights are stored in, from its config.json where that is on this machine (its folder, the workflow's
prefetch cache or the user's hub cache; nothing is downloaded), else from `base_models[].parameters`; a model
pre-trained here from its own architecture. Each number says where it came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iftforget.grid.sources import PRETRAIN_SOURCE
from iftforget.grid.stages import own_pretrain_block
from iftforget.hub import HF_HOME_DIR, is_hub_id
from iftforget.models import ModelShape, base_model_config, parameters_of
from iftforget.schema import ConfigError

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class BaseModelSize:
    """A base model's parameter count and stored dtype, and where each came from."""

    parameters: int
    source: str
    dtype: str
    dtype_source: str


def _local_config_json(source: str, revision: str | None, prefetch_cache: Path) -> Path | None:
    """A base model's config.json on this machine: in its folder, or in a hub cache (never downloaded here): the
    workflow's prefetch cache first (where `snakemake prefetch` puts it), then the user's own hub cache."""
    if Path(source).expanduser().is_dir():
        path = Path(source).expanduser() / "config.json"
        return path if path.is_file() else None
    if is_hub_id(source):
        from huggingface_hub import try_to_load_from_cache

        for cache_dir in (prefetch_cache, None):
            cached = try_to_load_from_cache(source, "config.json", cache_dir=cache_dir, revision=revision or None)
            if isinstance(cached, str):
                return Path(cached)
    return None


def _stored_dtype(config_json: dict[str, Any]) -> str | None:
    name = config_json.get("dtype") or config_json.get("torch_dtype")
    return name if name in DTYPE_BYTES else None


def base_model_size(config: dict[str, Any], index: int) -> BaseModelSize:
    """Parameters and stored dtype of base_models[index]: counted from the architecture of its config.json (built
    on the meta device) when that is on this machine, else `base_models[index].parameters`; a model pre-trained here
    is its own shape (pretrain.model with base_models[index].model over it) with tokenizer.vocab_size tokens (an
    upper bound: the trained vocabulary can be smaller), trained and saved in float32."""
    entry = config["base_models"][index]
    if entry["source"] == PRETRAIN_SOURCE:
        shape = ModelShape.from_config(own_pretrain_block(config["pretrain"], entry)["model"])
        count = parameters_of(base_model_config(shape, config["tokenizer"]["vocab_size"]))
        own = any(value is not None for value in entry["model"].values())
        where = f"base_models[{index}].model over pretrain.model" if own else "pretrain.model"
        return BaseModelSize(count, f"{where} with tokenizer.vocab_size", "float32", "trained here in float32")
    # The prefetch rules fetch into the hub cache below HF_HOME, the same for every job.
    prefetch_cache = Path(config["results_dir"]) / HF_HOME_DIR / "hub"
    found = _local_config_json(entry["source"], entry.get("revision"), prefetch_cache)
    if found is not None:
        from transformers import AutoConfig

        model_config = AutoConfig.from_pretrained(str(found.parent), trust_remote_code=config["trust_remote_code"])
        dtype = _stored_dtype(json.loads(found.read_text()))
        return BaseModelSize(parameters_of(model_config, config["trust_remote_code"]), str(found),
                             dtype or "float32", str(found) if dtype else f"{found} names none: float32 assumed")
    if entry["parameters"] > 0:
        return BaseModelSize(int(entry["parameters"]), f"base_models[{index}].parameters", "float32",
                             "its config.json is not on this machine, float32 assumed (an upper bound)")
    raise ConfigError(
        f"base_models[{index}].parameters is needed: the config.json of {entry['source']!r} is not on this machine "
        "(not downloaded); allowed: its parameter count, e.g. 6.74e9 for Llama-2 7B"
    )
