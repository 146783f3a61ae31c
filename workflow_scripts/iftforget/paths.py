"""Where every artifact lives: one table of path patterns, read by the rules and by the Python side alike.

A pattern is relative to `results_dir` and names its wildcards in braces, as Snakemake writes them. The rules take
their output patterns from here (`Layout.pattern`), the Python side formats the same patterns with values
(`Layout.path`), and no path is ever parsed back: a job learns what it builds from its wildcards.

Models are named by kind first (models/<base>/ift/..., .../restored/..., .../control/...), so no dataset or corpus
name is reserved. A model's evals live below eval/ under the model's own path, and every job's log and benchmark
below logs/<rule>/ and benchmarks/<rule>/ under the path of what the job builds. Adding an axis to the grid is a
wildcard added here (and to `ModelRef` and `iftforget.grid.axes`). An IFT recipe of ift.variants is one: its IFT
run and restorations, and its analysis, lie one level deeper, named by the variant after the dataset; the ift block's
own recipe (DEFAULT_VARIANT) keeps the paths it always had.

Plain Python without heavy imports: the Snakefile imports it to build the DAG, and tests import it directly.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# What each wildcard may hold (the rules' wildcard_constraints): names without a slash, numbers for seeds and steps.
NAME = "[A-Za-z0-9][A-Za-z0-9_.-]*"
WILDCARD_CONSTRAINTS: dict[str, str] = {
    "model": NAME,
    "dataset": NAME,
    "corpus": NAME,
    "variant": NAME,
    "replicate": r"\d+",
    "seed": r"\d+",
    "step": r"\d+",
    "budget": r"\d+",
    "task": "[A-Za-z0-9_]+",
    "file": "[a-z_]+",
}

# A model's path below models/ (and below eval/ for its evals), by kind.
MODEL_PATTERNS: dict[str, str] = {
    "base": "{model}/rep{replicate}/base",
    "ift": "{model}/rep{replicate}/ift/{dataset}/seed{seed}/step{step}",
    "restored": "{model}/rep{replicate}/restored/{dataset}/seed{seed}/step{step}/{corpus}/r{budget}",
    "control": "{model}/rep{replicate}/control/seed{seed}/{corpus}/r{budget}",
}
MODEL_KINDS = tuple(MODEL_PATTERNS)
# The IFT recipe of the ift block itself: its models and analysis keep the paths above, and the tables' ift_variant
# column names it so. Each variant of ift.variants (a recipe of its own) has the paths below instead.
DEFAULT_VARIANT = "default"
# The models an IFT variant trains: its IFT run and the restorations of its checkpoints, one level deeper, named by the
# variant after the dataset (one path segment more than the ift block's, so that no path of one matches a pattern of
# the other). The base and the control do not depend on the IFT recipe: every variant shares them.
VARIANT_MODEL_PATTERNS: dict[str, str] = {
    "ift": "{model}/rep{replicate}/ift/{dataset}/{variant}/seed{seed}/step{step}",
    "restored": "{model}/rep{replicate}/restored/{dataset}/{variant}/seed{seed}/step{step}/{corpus}/r{budget}",
}
# One group of comparisons: the models of one IFT run (its base, control, IFT@k and restored@k).
GROUP_PATTERN = "{model}/{dataset}/rep{replicate}/seed{seed}"
# The units of one (base model, dataset) pooled across replicates and seeds.
POOL_PATTERN = "{model}/{dataset}"
# The same for the restorations on a further corpus (restore.arms): one level deeper, named by the corpus, so that
# the main corpus' paths stay as they were and no path of one matches a pattern of the other.
ARM_GROUP_PATTERN = "{model}/{dataset}/{corpus}/rep{replicate}/seed{seed}"
ARM_POOL_PATTERN = "{model}/{dataset}/{corpus}"
# The same for an IFT variant: below the dataset, named by the variant (and by the corpus below it on an arm). A
# variant's analysis paths lie as deep as an arm's of the ift block; the config check keeps their names apart.
VARIANT_GROUP_PATTERN = "{model}/{dataset}/{variant}/rep{replicate}/seed{seed}"
VARIANT_POOL_PATTERN = "{model}/{dataset}/{variant}"
VARIANT_ARM_GROUP_PATTERN = "{model}/{dataset}/{variant}/{corpus}/rep{replicate}/seed{seed}"
VARIANT_ARM_POOL_PATTERN = "{model}/{dataset}/{variant}/{corpus}"

# Every artifact, below results_dir. `{model_path}` stands for one of the MODEL_PATTERNS.
PATTERNS: dict[str, str] = {
    # the synthetic world of each replicate, its tokenizer and its IFT datasets
    "world_file": "world/rep{replicate}/{file}.jsonl",
    "tokenizer": "world/rep{replicate}/tokenizer",
    "world_ift_data": "world/rep{replicate}/ift/{dataset}.jsonl",
    # a restoration corpus of restore.arms made from the world (rule world_fresh_corpus); not a file of rule world
    "fresh_corpus": "world/rep{replicate}/restore-{corpus}.jsonl",
    # external data, written once as local JSON lines
    "ift_data": "data/ift/{dataset}.jsonl",
    "restore_data": "data/restore/{corpus}.jsonl",
    # what the prefetch fetched from the hub into cache/ (a hub base model; the datasets of an lm-eval task)
    "prefetched_model": "prefetch/models/{model}.json",
    "prefetched_task": "prefetch/tasks/{task}.json",
    # models, and the optimizer/scheduler/RNG state an IFT segment leaves for the next one
    "model": "models/{model_path}",
    "trainer_state": "models/{model_path}.trainer-state",
    # evaluation
    "eval": "eval/{model_path}/{task}.json",
    "summary": "summary/scores.csv",
    # analysis and figures
    "comparison": f"analysis/comparisons/{GROUP_PATTERN}/{{task}}.json",
    "pooled": f"analysis/pooled/{POOL_PATTERN}/{{task}}.json",
    "arm_comparison": f"analysis/comparisons/{ARM_GROUP_PATTERN}/{{task}}.json",
    "arm_pooled": f"analysis/pooled/{ARM_POOL_PATTERN}/{{task}}.json",
    "variant_comparison": f"analysis/comparisons/{VARIANT_GROUP_PATTERN}/{{task}}.json",
    "variant_pooled": f"analysis/pooled/{VARIANT_POOL_PATTERN}/{{task}}.json",
    "variant_arm_comparison": f"analysis/comparisons/{VARIANT_ARM_GROUP_PATTERN}/{{task}}.json",
    "variant_arm_pooled": f"analysis/pooled/{VARIANT_ARM_POOL_PATTERN}/{{task}}.json",
    "table": "analysis/{table}.{ext}",
    "group_figure": f"figures/{GROUP_PATTERN}/{{figure}}.{{ext}}",
    "pooled_figure": f"figures/{POOL_PATTERN}/pooled/{{figure}}.{{ext}}",
    "variant_group_figure": f"figures/{VARIANT_GROUP_PATTERN}/{{figure}}.{{ext}}",
    "variant_pooled_figure": f"figures/{VARIANT_POOL_PATTERN}/pooled/{{figure}}.{{ext}}",
    "overview_figure": "figures/{figure}.{ext}",
}

# Job logs and benchmarks: logs/<rule>/<identity of what the job builds>.log (a model's path, a group's), or
# logs/<rule>.log for a rule with one job.
LOG_ROOT = "logs"
BENCHMARK_ROOT = "benchmarks"
# Experiment-tracking logs of training jobs (training.report_to): tracking/<stage>/<path of the model it builds>/.
TRACKING_ROOT = "tracking"


def model_pattern(kind: str, variant: str = DEFAULT_VARIANT) -> str:
    """The path pattern of a model of `kind` trained with the IFT recipe `variant`: the ift block's (MODEL_PATTERNS)
    or a variant's (VARIANT_MODEL_PATTERNS; a base model or control has one pattern whatever the recipe)."""
    if variant != DEFAULT_VARIANT and kind in VARIANT_MODEL_PATTERNS:
        return VARIANT_MODEL_PATTERNS[kind]
    return MODEL_PATTERNS[kind]


def wildcard_variant(wildcards: Mapping[str, str]) -> str:
    """The IFT recipe a job's wildcards name: a variant's ({variant}), or the ift block's when they name none. Only
    the wildcards' names are read, through keys() (as built_kind does)."""
    return wildcards["variant"] if "variant" in wildcards.keys() else DEFAULT_VARIANT


def model_path_regex() -> str:
    """The regular expression of a model's path of any kind and recipe (the constraint of the {model_path}
    wildcard), built from MODEL_PATTERNS, VARIANT_MODEL_PATTERNS and WILDCARD_CONSTRAINTS; its groups do not
    capture."""
    alternatives = []
    for pattern in [*MODEL_PATTERNS.values(), *VARIANT_MODEL_PATTERNS.values()]:
        regex = ""
        for literal, name, _, _ in string.Formatter().parse(pattern):
            regex += re.escape(literal) + (f"(?:{WILDCARD_CONSTRAINTS[name]})" if name else "")
        alternatives.append(regex)
    return "|".join(f"(?:{alternative})" for alternative in alternatives)


def built_kind(stage: str, wildcards: Mapping[str, str]) -> str:
    """The kind of the model a training job of `stage` builds, from its wildcards: the one place that tells a
    restored model from the control. A restoration whose path names a step restores IFT@k (restored@k); one whose
    path names none restores the base (the control). `wildcards` is a dict or a job's Snakemake wildcards (only its
    names are read, through keys(): `in` on Snakemake's wildcards would look at their values)."""
    if stage == "restore":
        return "restored" if "step" in wildcards.keys() else "control"
    return {"pretrain": "base", "ift": "ift"}[stage]


def built_path(stage: str, wildcards: Mapping[str, str]) -> str:
    """The path (below models/) of the model a training job of `stage` builds: its kind's pattern (a variant's when
    the wildcards name one), formatted with the job's wildcards."""
    pattern = model_pattern(built_kind(stage, wildcards), wildcard_variant(wildcards))
    return pattern.format(**dict(wildcards.items()))


def wildcard_names(pattern: str) -> list[str]:
    """The wildcards of a pattern, in order of appearance."""
    return [name for _, name, _, _ in string.Formatter().parse(pattern) if name]


class _KeepMissing(dict):
    """Formats the given wildcards and leaves the others as `{name}` for Snakemake."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(pattern: str, **values: Any) -> str:
    """`pattern` with the given wildcards replaced by their values; the others stay wildcards."""
    return pattern.format_map(_KeepMissing(values))


@dataclass(frozen=True)
class ModelRef:
    """One model of the grid: the base, IFT@k, restored@k, or the restored base (the control, restored@0)."""

    kind: str  # one of MODEL_KINDS
    base_model: str
    replicate: int = 0
    dataset: str = ""
    seed: int | None = None
    step: int = 0
    corpus: str = ""
    budget: int = 0  # restoration steps (restored and control only)
    variant: str = DEFAULT_VARIANT  # the IFT recipe (ift and restored only): the ift block's, or one of ift.variants

    def __post_init__(self) -> None:
        if self.kind not in MODEL_PATTERNS:
            raise ValueError(f"unknown model kind {self.kind!r}; the kinds are {MODEL_KINDS}")
        if self.variant != DEFAULT_VARIANT and self.kind not in VARIANT_MODEL_PATTERNS:
            raise ValueError(f"a {self.kind} model has no IFT recipe of its own (variant {self.variant!r})")

    @property
    def pattern(self) -> str:
        """The path pattern of the model's kind and recipe."""
        return model_pattern(self.kind, self.variant)

    def wildcards(self) -> dict[str, str]:
        """The values of the wildcards of the model's path pattern (as Snakemake would give them to a job)."""
        values = {"model": self.base_model, "replicate": self.replicate, "dataset": self.dataset, "seed": self.seed,
                  "step": self.step, "corpus": self.corpus, "budget": self.budget, "variant": self.variant}
        return {name: str(values[name]) for name in wildcard_names(self.pattern)}

    @property
    def path(self) -> str:
        """The model's path below `<results_dir>/models` (and of its evals below `<results_dir>/eval`)."""
        return self.pattern.format(**self.wildcards())

    def info(self) -> dict[str, Any]:
        """What the model is in the grid, as recorded in its eval JSONs; a variant's models name their IFT recipe
        (ift_variant), the ift block's name none (so that their eval jobs' params stay as they were)."""
        info = {"kind": self.kind, "base_model": self.base_model, "replicate": self.replicate,
                "dataset": self.dataset, "seed": self.seed, "step": self.step, "corpus": self.corpus,
                "budget": self.budget}
        return info | ({"ift_variant": self.variant} if self.variant != DEFAULT_VARIANT else {})


class Layout:
    """The patterns of the table below one results folder."""

    def __init__(self, results_dir: str) -> None:
        self.root = results_dir.rstrip("/")

    def pattern(self, artifact: str, **values: Any) -> str:
        """The Snakemake pattern of an artifact; `kind=` fills {model_path} with that kind's model pattern (a
        variant's with `variant=` other than DEFAULT_VARIANT, e.g. "{variant}" for the rules of the variants), other
        keyword arguments fill wildcards with values."""
        return f"{self.root}/{self._relative(artifact, **values)}"

    def path(self, artifact: str, **values: Any) -> str:
        """The path of one artifact: its pattern with every wildcard given a value (`model=` may be a ModelRef)."""
        model = values.pop("model", None)
        if isinstance(model, ModelRef):
            values["model_path"] = model.path
        elif model is not None:
            values["model"] = model
        path = self.pattern(artifact, **values)
        missing = wildcard_names(path)
        if missing:
            raise ValueError(f"no value for the wildcard(s) {missing} of the {artifact!r} pattern")
        return path

    def log(self, rule: str, identity: str = "") -> str:
        """Where a job of `rule` writes its log: below logs/<rule>/ under the identity pattern of what it builds
        (MODEL_PATTERNS[kind], GROUP_PATTERN), or logs/<rule>.log for a rule with a single job."""
        return self._job_file(LOG_ROOT, rule, identity, "log")

    def benchmark(self, rule: str, identity: str = "") -> str:
        """Where Snakemake writes the benchmark of that job (benchmarks/<rule>/...)."""
        return self._job_file(BENCHMARK_ROOT, rule, identity, "tsv")

    def tracking(self, stage: str, identity: str) -> str:
        """The folder of a training job's experiment-tracking logs (tracking/<stage>/<identity>)."""
        return f"{self.root}/{TRACKING_ROOT}/{stage}/{identity}"

    def _job_file(self, root: str, rule: str, identity: str, suffix: str) -> str:
        return f"{self.root}/{root}/{rule}/{identity}.{suffix}" if identity else f"{self.root}/{root}/{rule}.{suffix}"

    def _relative(self, artifact: str, kind: str | None = None, **values: Any) -> str:
        if artifact not in PATTERNS:
            raise KeyError(f"no artifact {artifact!r} in the path table; the artifacts are {sorted(PATTERNS)}")
        pattern = PATTERNS[artifact]
        if kind is not None:
            pattern = fill(pattern, model_path=model_pattern(kind, values.get("variant", DEFAULT_VARIANT)))
        return fill(pattern, **values)
