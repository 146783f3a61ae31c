"""Checks of the base models and of the model-loading settings before any job: what would otherwise stop a job
hours into a run (a sequence longer than the model's positions, a chat template that cannot mask the assistant's
tokens, no padding token, an attention kernel that is not installed). Every error names the model and the key.
`check_attention` reads no file and runs with the config check, when the workflow is read; `check_models` reads the
base models' files and runs when a run starts, before its first job (iftforget.config.check_data).

Base models pre-trained here are checked by the config check itself (their shape is the config's: pretrain.model
with the entry's own base_models[].model keys over it). An external base model is read from its local folder, or
from the workflow's hub cache (<results_dir>/cache/hf, where `snakemake prefetch` puts it and the jobs read it)
without downloading (`local_files_only`); one that is in neither is checked when its first job loads it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from iftforget.chat import comparison_template
from iftforget.grid.sources import PRETRAIN_SOURCE
from iftforget.hub import HF_HOME_DIR

FLASH_PACKAGES = {"flash_attention_2": "flash_attn", "flash_attention_3": "flash_attn_interface"}


class PreflightError(ValueError):
    """A base model or setting that would fail in a job; the message names the model and the key."""


def check_attention(training: dict[str, Any]) -> None:
    """training.attn_implementation must be usable where the jobs run: flash attention needs CUDA and its package."""
    kernel = training["attn_implementation"]
    if kernel not in FLASH_PACKAGES:
        return
    if training["device"] == "cpu":
        raise PreflightError(f"training.attn_implementation = {kernel!r} needs a CUDA device but training.device is "
                             "'cpu'; allowed on CPU: 'sdpa' or 'eager'")
    if importlib.util.find_spec(FLASH_PACKAGES[kernel]) is None:
        raise PreflightError(f"training.attn_implementation = {kernel!r} needs the {FLASH_PACKAGES[kernel]} package, "
                             "which is not installed; allowed: 'sdpa', 'eager', or install it")


def _local(key: str, source: str, revision: str | None, what: str, trust_remote_code: bool,
           hub_cache: Path) -> Any | None:
    """A config or tokenizer of a base model from its folder or the hub cache `hub_cache`; None when neither has it.
    A local folder that does not hold it is an error naming the key."""
    from transformers import AutoConfig, AutoTokenizer

    loader = AutoConfig if what == "config" else AutoTokenizer
    try:
        return loader.from_pretrained(source, revision=revision or None, local_files_only=True,
                                      trust_remote_code=trust_remote_code, cache_dir=hub_cache)
    except (OSError, ValueError) as error:
        if Path(source).expanduser().is_dir():
            message = (f"{key}: its {what} cannot be loaded from the folder ({error}); allowed: a folder written by "
                       "save_pretrained (config.json and the tokenizer's files), or a hub id")
            raise PreflightError(message) from None
        if not isinstance(error, OSError):
            raise
        return None


def position_limit(model_config: Any) -> int | None:
    """The longest sequence a model's positions allow (Llama-style max_position_embeddings, GPT-2's n_positions)."""
    for name in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(model_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_base_model(index: int, model: dict[str, Any], config: dict[str, Any], template_file: Path) -> list[str]:
    """Check one external base model; returns notes for the user (e.g. the chat template it will be given)."""
    key = f"base_models[{index}] ({model['name']}: {model['source']})"
    trust = config["trust_remote_code"]
    revision = model.get("revision")
    hub_cache = Path(config["results_dir"]) / HF_HOME_DIR / "hub"
    model_config = _local(key, model["source"], revision, "config", trust, hub_cache)
    if model_config is None:
        return [f"{key} is not on this machine (neither a folder nor in the hub cache {hub_cache}): it is checked "
                "when its first job loads it"]
    limit = position_limit(model_config)
    max_length = config["training"]["max_length"]
    if limit is not None and max_length > limit:
        raise PreflightError(f"{key} handles sequences of at most {limit} tokens, but training.max_length = "
                             f"{max_length}; allowed: training.max_length <= {limit}")
    tokenizer = _local(key, model["source"], revision, "tokenizer", trust, hub_cache)
    if tokenizer is None:
        return [f"{key}: no tokenizer on this machine; checked when its first job loads it"]
    if not config["training"]["pad_token"] and tokenizer.pad_token is None and tokenizer.eos_token is None:
        raise PreflightError(f"{key} has neither a padding nor an end-of-sequence token; allowed: name one of its "
                             "tokens in training.pad_token")
    notes = []
    source = config["ift"]["chat_template_source"]
    if source == "model" and tokenizer.chat_template:
        from trl.chat_template_utils import get_training_chat_template

        try:
            get_training_chat_template(tokenizer)
        except ValueError as error:
            raise PreflightError(
                f"{key}: its chat template cannot mark the assistant's tokens for assistant-only IFT loss ({error}); "
                f"allowed: ift.chat_template_source = 'config', which tunes and probes it in {template_file} instead"
            ) from None
    else:
        template = comparison_template(tokenizer, template_file, source)
        what = "has no chat template" if not tokenizer.chat_template else "has its own chat template, replaced"
        notes.append(f"{key} {what}: it is tuned and probed in {template_file} ({len(template)} characters)")
    return notes


def check_models(config: dict[str, Any], template_file: Path) -> list[str]:
    """The checks of the external base models of a validated config; returns notes, raises PreflightError on the
    first error."""
    notes = []
    for index, model in enumerate(config["base_models"]):
        if model["source"] != PRETRAIN_SOURCE:
            notes += check_base_model(index, model, config, template_file)
    return notes
