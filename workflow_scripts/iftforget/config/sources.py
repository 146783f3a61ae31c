"""Checks of where the grid's inputs come from that the JSON schema cannot express: each base model, IFT dataset and
restoration corpus is its keyword (pretrain, world), an existing local path or a hub id, pinned to a revision only on
the hub, under a name no other shares; a base model pre-trained here has an architecture that builds, and one that is
not sets no pre-training of its own; the restoration arms have corpora of their own; and a local restoration corpus
mentions no probed person. Each error names the key and what is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from iftforget.grid.sources import PRETRAIN_SOURCE, WORLD_SOURCE
from iftforget.grid.stages import OWN_PRETRAIN_KEYS, own_pretrain_block
from iftforget.hub import is_hub_id, looks_like_local_path
from iftforget.schema import ConfigError
from iftforget.tasks import is_world_task
from iftforget.world import WorldConfig, build_world
from iftforget.world_fresh import FRESH_SOURCE, check_fresh_capacity


def check_source(key: str, source: str, keyword: str) -> None:
    """A source is the keyword, an existing local path, or something shaped like a hub id."""
    if source == keyword:
        return
    if looks_like_local_path(source) or Path(source).exists():
        if not Path(source).expanduser().exists():
            raise ConfigError(
                f"{key} = {source!r}: no such file or directory (use {keyword!r}, a hub id or an existing path)"
            )
        return
    if not is_hub_id(source):
        raise ConfigError(f"{key} = {source!r} is neither {keyword!r}, an existing path nor a hub id like org/name")


def check_revision(key: str, entry: dict[str, Any], keyword: str) -> None:
    """A revision pins a hub repository; on the keyword or a local path it would be silently ignored."""
    if entry["revision"] and (entry["source"] == keyword or not is_hub_id(entry["source"])):
        kind = f"the keyword {keyword!r}" if entry["source"] == keyword else "a local path"
        raise ConfigError(
            f"{key}.revision = {entry['revision']!r} is not allowed: {key}.source = {entry['source']!r} is {kind}, not "
            f"a hub id; allowed: '' (a revision is a branch, tag or commit of a hub repository only)"
        )


def _unique(key: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"{key}: the name {name!r} is used twice; names must be unique")
        seen.add(name)


def check_sources(config: dict[str, Any]) -> None:
    """Unique names of base models and IFT datasets; the source and revision of each, and of the restoration
    corpus; the architecture or the absence of pre-training settings of each base model (by its source)."""
    _unique("base_models", [m["name"] for m in config["base_models"]])
    _unique("ift_datasets", [d["name"] for d in config["ift_datasets"]])
    for i, model in enumerate(config["base_models"]):
        check_source(f"base_models[{i}].source", model["source"], PRETRAIN_SOURCE)
        check_revision(f"base_models[{i}]", model, PRETRAIN_SOURCE)
    for i, dataset in enumerate(config["ift_datasets"]):
        check_source(f"ift_datasets[{i}].source", dataset["source"], WORLD_SOURCE)
        check_revision(f"ift_datasets[{i}]", dataset, WORLD_SOURCE)
    check_source("restore_corpus.source", config["restore_corpus"]["source"], WORLD_SOURCE)
    check_revision("restore_corpus", config["restore_corpus"], WORLD_SOURCE)

    for i, model in enumerate(config["base_models"]):
        if model["source"] == PRETRAIN_SOURCE:
            _check_pretrained_shape(config, i)
        else:
            _check_no_own_pretraining(i, model)


def check_restore_arms(config: dict[str, Any]) -> None:
    """The further restoration corpora: names that no two corpora share (they name the restored models' folders),
    one arm per source (two would restore on the same text), known datasets, and for world-fresh a world whose name
    pools can name its fresh people."""
    arms = config["restore"]["arms"]
    main = config["restore_corpus"]["name"]
    _unique("restore.arms", [arm["name"] for arm in arms])
    datasets = [dataset["name"] for dataset in config["ift_datasets"]]
    for index, arm in enumerate(arms):
        key = f"restore.arms[{index}]"
        if arm["name"] == main:
            raise ConfigError(f"{key}.name = {arm['name']!r} is restore_corpus.name; allowed: a name of its own (the "
                              "restored models of each corpus live under its name)")
        if arm["source"] in (other["source"] for other in arms[:index]):
            raise ConfigError(f"{key}.source = {arm['source']!r} is the source of an earlier arm; allowed: one arm "
                              "per source (two would restore on the same text)")
        unknown = [name for name in arm["datasets"] if name not in datasets]
        if unknown:
            raise ConfigError(f"{key}.datasets has {unknown}, which are not IFT datasets; allowed: names in "
                              f"ift_datasets {datasets} (or none, for every dataset)")
        if arm["source"] == FRESH_SOURCE:
            try:
                check_fresh_capacity(WorldConfig.from_config(config["world"]), f"{key}.source")
            except ValueError as error:
                raise ConfigError(str(error)) from None


def _check_pretrained_shape(config: dict[str, Any], index: int) -> None:
    """The architecture of base_models[index] (its own keys merged over pretrain.model) must build, and hold
    training.max_length tokens; an error names the key that set each value, the entry's own or the block's."""
    entry = config["base_models"][index]
    shape = own_pretrain_block(config["pretrain"], entry)["model"]

    def key(name: str) -> str:
        own = (entry.get("model") or {}).get(name) is not None
        return f"base_models[{index}].model.{name}" if own else f"pretrain.model.{name}"

    for part, whole in (("num_attention_heads", "hidden_size"), ("num_key_value_heads", "num_attention_heads")):
        if shape[whole] % shape[part]:
            raise ConfigError(f"{key(part)} = {shape[part]} must divide {key(whole)} = {shape[whole]} (base model "
                              f"{entry['name']!r})")
    if config["training"]["max_length"] > shape["max_position_embeddings"]:
        raise ConfigError(
            f"training.max_length = {config['training']['max_length']} exceeds "
            f"{key('max_position_embeddings')} = {shape['max_position_embeddings']} (base model {entry['name']!r})"
        )


def _check_no_own_pretraining(index: int, entry: dict[str, Any]) -> None:
    """Pre-training settings on a base model that is not pre-trained here would be ignored without a word."""
    given = [f"{key} = {entry[key]!r}" for key in OWN_PRETRAIN_KEYS if entry.get(key) is not None]
    given += [f"model.{key} = {value!r}" for key, value in (entry.get("model") or {}).items() if value is not None]
    if given:
        raise ConfigError(
            f"base_models[{index}].{given[0]} is not allowed: base_models[{index}].source = {entry['source']!r} is not "
            f"'{PRETRAIN_SOURCE}'; allowed: null (a base model's own architecture and pre-training settings are for "
            "source pretrain only)"
        )


def check_restore_corpus_is_not_probed(config: dict[str, Any]) -> None:
    """A restoration corpus that mentions a probed person (P_eval or a format-probe person) would teach the
    probed facts or text back, and recovery would be counted where knowledge was re-taught. The world's people are
    known before it is built (it is seeded), so a local corpus file is scanned for their names here, when a run starts
    (iftforget.config.check_data: it builds the world and reads the corpus, not while the DAG is built). A hub corpus
    is checked when it is sampled, not here (that needs a download); `source: world` (P_hold) never overlaps."""
    corpus = config["restore_corpus"]["source"]
    if corpus == WORLD_SOURCE or not any(is_world_task(t) for t in config["eval"]["tasks"]):
        return
    path = Path(corpus).expanduser()
    if not path.exists():
        return  # not a local file (a hub id); check_source has rejected a missing local path
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl", ".txt"))
    world = build_world(WorldConfig.from_config(config["world"]))
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
                        "(biographies of P_hold), a hub id, or local text that mentions no P_eval or format-probe "
                        "person"
                    )
