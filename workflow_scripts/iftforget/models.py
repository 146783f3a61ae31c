"""Models and tokenizers, for training and evaluation alike: where one is (a local folder or a hub id), whether a
local folder is complete, and loading both through transformers.

`check_model_dir` is called before anything is loaded, so that a broken cache is named with how to rebuild it and
never half loaded. transformers is imported inside the loaders only: the Snakefile imports this module.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iftforget.settings import from_block

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


def looks_like_local_path(source: str) -> bool:
    """A source written as a path (absolute, relative with ./ or ../, home, or a JSON file name)."""
    return source.startswith(("/", "./", "../", "~")) or source.endswith((".json", ".jsonl"))


def is_hub_id(source: str) -> bool:
    """`name` or `org/name` that is not an existing local path: a repository on the Hugging Face hub."""
    return not looks_like_local_path(source) and not Path(source).exists() and bool(_HUB_ID.match(source))


def with_revision(repo_id: str, revision: str) -> str:
    """A hub model at a revision as one string, `org/name@revision` (`org/name` for the default branch), the way
    the rules hand a model to a job."""
    return f"{repo_id}@{revision}" if revision else repo_id


def split_revision(location: str) -> tuple[str, str]:
    """(hub id, revision) of `org/name@revision` or `org/name`; a local path comes back whole with no revision."""
    repo_id, at, revision = location.partition("@")
    if at and is_hub_id(repo_id):
        return repo_id, revision
    return location, ""


def locate_model(location: str) -> str:
    """The folder a model is loaded from: a local path as it is, or for a hub id (`org/name@revision`) its snapshot
    in the hub cache, found offline (iftforget.hub.cached_model: a model not prefetched is named, with how to
    fetch it)."""
    repo_id, revision = split_revision(location)
    if not is_hub_id(repo_id):
        return location
    from iftforget.hub import cached_model

    return cached_model(repo_id, revision)


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is unusable (truncated or not safetensors), or None; reads only its header."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            (header_length,) = struct.unpack("<Q", handle.read(8))
            if header_length > size - 8:
                return f"{path.name} is truncated ({size} bytes, its header alone claims {header_length})"
            header = json.loads(handle.read(header_length))
    except (struct.error, ValueError, UnicodeDecodeError):
        return f"{path.name} is not a safetensors file"
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + header_length + end > size:
        return f"{path.name} is truncated ({size} bytes of {8 + header_length + end})"
    return None


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


def model_dir_problems(path: Path) -> list[str]:
    """What keeps a model directory from loading whole: a missing config, missing or truncated weights."""
    problems = []
    if not (path / "config.json").is_file():
        problems.append("config.json is missing")
    shards = sorted(path.glob("model*.safetensors"))
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            listed = set(json.loads(index.read_text())["weight_map"].values())
        except (ValueError, KeyError):
            listed = set()
            problems.append(f"{index.name} is corrupt")
        problems += [f"weight shard {name} is missing" for name in sorted(listed - {s.name for s in shards})]
    problems += [problem for shard in shards if (problem := _safetensors_problem(shard))]
    if not shards and not list(path.glob("pytorch_model*.bin")):
        problems.append("no weights (model*.safetensors or pytorch_model*.bin)")
    return problems


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
