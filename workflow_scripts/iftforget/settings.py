"""Settings classes from the validated config: the one way a config block becomes a typed settings object.

The JSON schema (schemas/config.schema.yaml) is the single source of defaults: a validated config has every key,
so the settings classes declare none of their own and are built from a config block with `from_block`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def from_block(cls: type[T], block: Mapping[str, Any], **overrides: Any) -> T:
    """An instance of the dataclass `cls` from a validated config block (and `overrides`, which win).

    Keys of the block that are not fields are ignored (a block also holds keys for other readers); a field that
    has no value is an error naming it, never a silent default."""
    values = {**block, **overrides}
    fields = [field.name for field in dataclasses.fields(cls)]
    missing = [name for name in fields if name not in values]
    if missing:
        raise ValueError(
            f"{cls.__name__} needs the config key(s) {missing}; validate the config against the schema first"
        )
    return cls(**{name: values[name] for name in fields})
