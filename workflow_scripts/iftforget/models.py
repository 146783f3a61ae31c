"""Checking and loading models and tokenizers, for training and evaluation alike: whether a local model folder is
complete before it is loaded, loading through transformers, the dtype a model is saved in, and the Llama-style base
model pre-trained from scratch.

Where a model is (a local folder, or a hub id found in the hub cache) is iftforget.hub's business: a job locates its
model there first and hands the folder to the loaders here. `check_model_dir` is called before anything is loaded,
so that a broken cache is named with how to rebuild it and never half loaded. torch and transformers are imported
inside the functions only, so that importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iftforget.hub import is_hub_id
from iftforget.model_files import model_dir_problems
from iftforget.settings import from_block


def check_model_dir(model: str | Path) -> None:
    """For a local model directory: it holds a config and complete weights (every safetensors shard present and as
    long as its header says, or PyTorch .bin weights). Raise FileNotFoundError naming the directory, what is wrong
    and how to rebuild it, so that a broken cache never loads as a half model. A hub id is left to the hub."""
    path = Path(model)
    if not path.is_dir():
        if is_hub_id(str(model)):
            return
        raise FileNotFoundError(f"model {path} is not a directory; rebuild it with: snakemake --forcerun {path}")
    problems = model_dir_problems(path)
    if problems:
        raise FileNotFoundError(
            f"model directory {path} is incomplete: {'; '.join(problems)}. Delete it and rebuild it with: "
            f"snakemake --forcerun {path}"
        )


def load_tokenizer(path: str | Path, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)


def load_model(path: str | Path, trust_remote_code: bool, attn_implementation: str, dtype: str = "float32") -> Any:
    """A causal LM from a checked folder or a hub id, with the configured attention kernel."""
    import torch
    from transformers import AutoModelForCausalLM

    check_model_dir(path)
    return AutoModelForCausalLM.from_pretrained(str(path), trust_remote_code=trust_remote_code,
                                                dtype=getattr(torch, dtype), attn_implementation=attn_implementation)


# The dtypes a model folder may be saved in (config key training.save_dtype, besides auto).
SAVE_DTYPES = ("float32", "bfloat16", "float16")


def saved_dtype(setting: str, start: str | Path | None, trust_remote_code: bool = False) -> str:
    """training.save_dtype resolved for one job: auto is the dtype in the config.json of the model the job starts
    from (a hub base model's own; float32 for a model built here, `start` None, or a config that names none)."""
    if setting != "auto":
        return setting
    if start is None:
        return "float32"
    from transformers import AutoConfig

    dtype = AutoConfig.from_pretrained(str(start), trust_remote_code=trust_remote_code).dtype
    name = "float32" if dtype is None else str(dtype).removeprefix("torch.")
    if name not in SAVE_DTYPES:
        raise ValueError(f"training.save_dtype = 'auto': {start} is stored as {name}; allowed: {SAVE_DTYPES}, so set "
                         "training.save_dtype to one of them")
    return name


def save_cast(checkpoint: str | Path, out: str | Path, dtype: str, trust_remote_code: bool = False) -> None:
    """The model of a (float32) Trainer checkpoint saved to `out` by save_pretrained with its weights cast to
    `dtype` (config and generation config included; the tokenizer is not copied)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=getattr(torch, dtype),
                                                 trust_remote_code=trust_remote_code)
    model.save_pretrained(str(out))


@dataclass(frozen=True)
class ModelShape:
    """The Llama-style architecture of a base model pre-trained from scratch (config block `pretrain.model`)."""

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int
    tie_word_embeddings: bool

    @classmethod
    def from_config(cls, block: dict[str, Any]) -> "ModelShape":
        return from_block(cls, block)


def base_model_config(shape: ModelShape, vocab_size: int, eos_token_id: int | None = None,
                      pad_token_id: int | None = None, attn_implementation: str = "sdpa") -> Any:
    """The transformers config of a Llama-style base model pre-trained from scratch."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        **dataclasses.asdict(shape),  # the fields are LlamaConfig's own names
        bos_token_id=None,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        attn_implementation=attn_implementation,
    )


def parameters_of(model_config: Any, trust_remote_code: bool = False) -> int:
    """The parameter count of the causal LM a transformers config describes, built on the meta device (no memory,
    no weights; tied embeddings counted once)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config, trust_remote_code=trust_remote_code)
    return sum(parameter.numel() for parameter in model.parameters())


def build_base_model(shape: ModelShape, tokenizer: Any, seed: int, attn_implementation: str = "sdpa") -> Any:
    """A randomly initialised Llama-style model sized for the tokenizer (seeded: same seed, same weights)."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    config = base_model_config(shape, len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id,
                               attn_implementation)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
