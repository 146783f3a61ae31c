"""The path table: every pattern round-trips (wildcards -> path -> wildcards) under the rules' own wildcard
constraints, model paths of different kinds and IFT recipes never match each other's patterns, and no name is
reserved."""

from __future__ import annotations

import re

import pytest
from snakemake.io import regex_from_filepattern, update_wildcard_constraints
from snakemake.iocontainers import Wildcards

from iftforget.paths import (
    DEFAULT_VARIANT,
    MODEL_PATTERNS,
    PATTERNS,
    VARIANT_MODEL_PATTERNS,
    WILDCARD_CONSTRAINTS,
    Layout,
    ModelRef,
    built_kind,
    built_path,
    model_path_regex,
    wildcard_names,
)

pytestmark = pytest.mark.unit

# Values a user may give, chosen to look like each other's path parts: a dataset called "base", a corpus called
# "control", a model called "ift", an IFT variant called "restored".
VALUES = {"model": "ift", "dataset": "base", "replicate": "2", "seed": "3", "step": "25", "corpus": "control",
          "budget": "200", "task": "world_mc_chat", "file": "ppl_chat", "ext": "png", "figure": "world_mc_chat-scores",
          "table": "pooled", "variant": "restored"}
CONSTRAINTS = WILDCARD_CONSTRAINTS | {"model_path": model_path_regex(), "ext": "[a-z]+", "figure": "[A-Za-z0-9_.-]+",
                                      "table": "[a-z]+"}


def parse(pattern: str, path: str) -> dict[str, str] | None:
    """What Snakemake reads back from `path` with the rules' constraints (its own regex machinery, in a test only)."""
    constrained = update_wildcard_constraints(pattern, CONSTRAINTS, {})
    match = re.fullmatch(regex_from_filepattern(constrained), path)
    return match.groupdict() if match else None


MODELS = [
    ModelRef("base", "ift", replicate=2),
    ModelRef("ift", "ift", replicate=2, dataset="base", seed=3, step=25),
    ModelRef("restored", "ift", replicate=2, dataset="base", seed=3, step=25, corpus="control", budget=200),
    ModelRef("control", "ift", replicate=2, seed=3, corpus="control", budget=200),
    # An IFT variant's checkpoint and its restoration (ift.variants), named like a kind of model.
    ModelRef("ift", "ift", replicate=2, dataset="base", seed=3, step=25, variant="restored"),
    ModelRef("restored", "ift", replicate=2, dataset="base", seed=3, step=25, corpus="control", budget=200,
             variant="restored"),
]
# Every model pattern: of each kind, and of each kind an IFT variant trains.
ALL_MODEL_PATTERNS = {(kind, DEFAULT_VARIANT): pattern for kind, pattern in MODEL_PATTERNS.items()} | {
    (kind, "variant"): pattern for kind, pattern in VARIANT_MODEL_PATTERNS.items()}


def model_id(ref: ModelRef) -> str:
    return ref.kind if ref.variant == DEFAULT_VARIANT else f"{ref.kind}-variant"


@pytest.mark.parametrize("artifact", sorted(PATTERNS))
def test_every_artifact_pattern_round_trips(artifact):
    layout = Layout("results/x")
    pattern = layout.pattern(artifact)
    values = {name: VALUES[name] for name in wildcard_names(pattern) if name != "model_path"}
    if "model_path" in wildcard_names(pattern):
        for ref in MODELS:
            path = layout.path(artifact, model=ref, **values)
            assert parse(pattern, path) == {"model_path": ref.path, **values}
    else:
        path = layout.path(artifact, **values)
        assert parse(pattern, path) == values


@pytest.mark.parametrize("ref", MODELS, ids=model_id)
def test_a_model_path_matches_its_own_kind_and_recipe_only(ref):
    own = (ref.kind, DEFAULT_VARIANT if ref.variant == DEFAULT_VARIANT else "variant")
    for (kind, recipe), pattern in ALL_MODEL_PATTERNS.items():
        parsed = parse(pattern, ref.path)
        if (kind, recipe) == own:
            assert parsed == ref.wildcards(), "wildcards -> path -> the same wildcards"
        else:
            assert parsed is None, f"a {own} path is not a {(kind, recipe)} path"
    assert re.fullmatch(model_path_regex(), ref.path)


# The training stage that builds each kind of model.
STAGES = {"base": "pretrain", "ift": "ift", "restored": "restore", "control": "restore"}


@pytest.mark.parametrize("ref", [*MODELS, ModelRef("control", "ift", replicate=2, seed=3, corpus="step", budget=9)],
                         ids=lambda ref: f"{model_id(ref)}-{ref.corpus}")
def test_a_training_job_builds_the_kind_its_wildcards_name(ref):
    """built_kind tells a restored model from the control by the wildcards' names alone, from a dict or from a job's
    Snakemake wildcards, whose `in` looks at the values (a control on a corpus named "step" stays a control)."""
    for wildcards in (ref.wildcards(), Wildcards(fromdict=ref.wildcards())):
        assert built_kind(STAGES[ref.kind], wildcards) == ref.kind
        assert built_path(STAGES[ref.kind], wildcards) == ref.path


def test_rule_patterns_are_the_table_with_a_kind_filled_in():
    layout = Layout("results")
    assert layout.pattern("model", kind="ift") == "results/models/" + MODEL_PATTERNS["ift"]
    assert layout.pattern("eval", kind="control") == "results/eval/" + MODEL_PATTERNS["control"] + "/{task}.json"
    assert layout.log("ift", MODEL_PATTERNS["ift"]) == "results/logs/ift/" + MODEL_PATTERNS["ift"] + ".log"


def test_a_path_with_a_missing_value_is_an_error():
    with pytest.raises(ValueError, match="task"):
        Layout("results").path("eval", model=MODELS[0])


def test_the_paths_of_a_restoration_arm_match_no_pattern_of_the_main_corpus_or_the_world():
    """An arm's corpus is a file of its own rule beside the world's (never an output of rule world), and its
    analysis files lie one level below the main corpus', so no job of one is asked for a file of the other."""
    layout = Layout("results")
    corpus = layout.path("fresh_corpus", replicate=2, corpus="restore")
    assert parse(layout.pattern("world_file"), corpus) is None
    assert parse(layout.pattern("fresh_corpus"), layout.path("world_file", replicate=2, file="restore")) is None
    for artifact in ("comparison", "pooled"):
        values = {"model": "ift", "dataset": "base", "replicate": "2", "seed": "3", "task": "world_chat"}
        values = {name: value for name, value in values.items() if name in wildcard_names(PATTERNS[artifact])}
        arm = layout.path(f"arm_{artifact}", corpus="pooled", **values)
        assert parse(layout.pattern(artifact), arm) is None
        assert parse(layout.pattern(f"arm_{artifact}"), layout.path(artifact, **values)) is None
