"""Whether a model folder holds a whole model: a config and complete weights, judged from the files alone (the
safetensors headers, never the tensors), without transformers.

The one test of completeness, shared by the hub cache (iftforget.hub: a prefetched snapshot), the loaders
(iftforget.models: a folder before it is loaded) and the Trainer checkpoints (iftforget.checkpoints). It imports
nothing of the library, so that each of them can import it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path


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
