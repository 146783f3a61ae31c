"""The config's JSON schema (schemas/config.schema.yaml): defaults filled in, and every violation reported by its
dotted key, its value and what is allowed."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from iftforget.tasks import WORKFLOW_DIR

SCHEMA_FILE = WORKFLOW_DIR / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value that cannot run; the message names the key and what is allowed."""


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
        return "one of " + ", ".join("null" if v is None else repr(v) for v in schema["enum"])
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
    loaded = _load_schema(str(schema))
    fill_defaults(config, loaded)
    errors = sorted(_validator()(loaded).iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [_schema_message(e) for e in errors]
        raise ConfigError(lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n  " + "\n  ".join(lines))


@functools.lru_cache(maxsize=1)
def _validator() -> type:
    """Draft 2020-12 with one change: an integer must be written as one. JSON Schema counts 50.0 as an integer, but a
    step, a seed or a count written 50.0 would name files step50.0 and reach code that expects an int."""
    from jsonschema import Draft202012Validator, validators

    def is_integer(checker, instance) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    checker = Draft202012Validator.TYPE_CHECKER.redefine("integer", is_integer)
    return validators.extend(Draft202012Validator, type_checker=checker)


def default_config() -> dict[str, Any]:
    """The schema's defaults: an empty config, validated (every key filled in)."""
    config: dict[str, Any] = {}
    validate_schema(config)
    return config
