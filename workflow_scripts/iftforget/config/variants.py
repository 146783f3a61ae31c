"""Checks of the IFT recipes (ift.variants) that the JSON schema cannot express: names of their own (they name the
variant's folders beside the ift block's, and its analysis beside the restoration arms'), base models and datasets of
the grid, and a recipe of its own (a variant that trains what the ift block or an earlier variant trains would be the
same run twice under two names). Each error names the key and what is allowed.
"""

from __future__ import annotations

from typing import Any

from iftforget.grid.stages import VARIANT_KEYS, variant_ift_block
from iftforget.paths import DEFAULT_VARIANT
from iftforget.schema import ConfigError


def _recipe(ift: dict[str, Any], variant: dict[str, Any] | None) -> dict[str, Any]:
    """What a recipe trains with: the VARIANT_KEYS of its ift block."""
    block = variant_ift_block(ift, variant)
    return {key: block[key] for key in VARIANT_KEYS}


def _runs(variant: dict[str, Any], base_models: list[str], datasets: list[str]) -> set[tuple[str, str]]:
    """The (base model, dataset) runs a variant trains."""
    return {(base, dataset) for base in variant["base_models"] or base_models
            for dataset in variant["datasets"] or datasets}


def check_ift_variants(config: dict[str, Any]) -> None:
    """ift.variants: unique names, none "default" nor a restoration corpus' name; base models and datasets of the grid;
    each a recipe that differs from the ift block's and from every earlier variant's of the same runs."""
    ift, variants = config["ift"], config["ift"]["variants"]
    base_models = [model["name"] for model in config["base_models"]]
    datasets = [dataset["name"] for dataset in config["ift_datasets"]]
    corpora = [config["restore_corpus"]["name"], *(arm["name"] for arm in config["restore"]["arms"])]
    for index, variant in enumerate(variants):
        key, name = f"ift.variants[{index}]", variant["name"]
        if name in (earlier["name"] for earlier in variants[:index]):
            raise ConfigError(f"{key}.name = {name!r} is the name of an earlier variant; allowed: a name of its own "
                              "(names must be unique)")
        if name == DEFAULT_VARIANT:
            raise ConfigError(f"{key}.name = {name!r} is the name of the ift block's own recipe; allowed: a name of "
                              "its own")
        if name in corpora:
            raise ConfigError(f"{key}.name = {name!r} is the name of a restoration corpus (restore_corpus.name, "
                              f"restore.arms: {corpora}); allowed: a name no corpus has (a variant's analysis lies "
                              "beside the arms')")
        for axis, known in (("base_models", base_models), ("datasets", datasets)):
            unknown = [entry for entry in variant[axis] if entry not in known]
            if unknown:
                what = "base models" if axis == "base_models" else "IFT datasets"
                source = "base_models" if axis == "base_models" else "ift_datasets"
                raise ConfigError(f"{key}.{axis} has {unknown}, which are not {what}; allowed: names in {source} "
                                  f"{known} (or none, for every one)")
        recipe = _recipe(ift, variant)
        if recipe == _recipe(ift, None):
            raise ConfigError(f"{key} ({name!r}) trains the ift block's own recipe ({recipe}); allowed: a value "
                              f"that differs from the ift block's for at least one of {', '.join(VARIANT_KEYS)}")
        runs = _runs(variant, base_models, datasets)
        for number, earlier in enumerate(variants[:index]):
            if recipe == _recipe(ift, earlier) and runs & _runs(earlier, base_models, datasets):
                raise ConfigError(f"{key} ({name!r}) trains the recipe of ift.variants[{number}] "
                                  f"({earlier['name']!r}) again; allowed: a recipe of its own (or name the base "
                                  "models and datasets of both in one variant)")
