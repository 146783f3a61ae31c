"""The experiment grid of a validated config: base models x IFT datasets x seeds x steps, the models it trains and
evaluates, and the path of each (through the path table in `iftforget.paths`).

Plain Python without heavy imports: the Snakefile imports it to build the DAG, and tests import it directly.
"""

from __future__ import annotations

import functools
from typing import Any

from iftforget.paths import Layout, ModelRef
from iftforget.tasks import is_world_task, world_files_of_task

PRETRAIN_SOURCE = "pretrain"  # a base model pre-trained from scratch on the world
WORLD_SOURCE = "world"  # IFT data or restoration corpus taken from the world
# The keys a training stage's block (pretrain, ift, restore) sets for itself; everything else comes from `training`.
STAGE_KEYS = (
    "learning_rate", "batch_size", "gradient_accumulation_steps", "schedule", "warmup_ratio", "weight_decay", "threads"
)


class Grid:
    """The grid of a validated config (schemas/config.schema.yaml has filled in every default)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.layout = Layout(config["results_dir"])
        self.base_models = {m["name"]: m for m in config["base_models"]}
        self.datasets = {d["name"]: d for d in config["ift_datasets"]}
        self.corpus = config["restore_corpus"]["name"]
        self.seeds = list(config["seeds"])
        self.steps = list(config["ift"]["steps"])
        self.tasks = list(config["eval"]["tasks"])

    # --- the models ------------------------------------------------------------------------------------------
    def models(self) -> list[ModelRef]:
        """Every model evaluated: per base model the base, and per (dataset, seed) IFT@k, restored@k, control."""
        refs: list[ModelRef] = []
        for base in self.base_models:
            refs.append(ModelRef("base", base))
            for seed in self.seeds:
                refs.append(ModelRef("control", base, seed=seed, corpus=self.corpus))
                for dataset in self.datasets:
                    for step in self.steps:
                        refs.append(ModelRef("ift", base, dataset, seed, step))
                        refs.append(ModelRef("restored", base, dataset, seed, step, self.corpus))
        return refs

    @functools.cached_property
    def _models_by_path(self) -> dict[str, ModelRef]:
        return {ref.path: ref for ref in self.models()}

    def model_at(self, model_path: str) -> ModelRef:
        """The model of the grid whose path (below models/) is `model_path`: a look-up, never a parse."""
        try:
            return self._models_by_path[model_path]
        except KeyError:
            raise ValueError(f"{model_path!r} is not the path of a model of this config's grid") from None

    def groups(self) -> list[tuple[str, str, int]]:
        """(base model, dataset, seed) of every IFT run; the analysis compares the models of each."""
        return [(m, d, s) for m in self.base_models for d in self.datasets for s in self.seeds]

    def group_models(self, base: str, dataset: str, seed: int) -> list[ModelRef]:
        """The models of one group in the analysis' order: base, control, then IFT@k and restored@k per step."""
        models = [ModelRef("base", base), ModelRef("control", base, seed=seed, corpus=self.corpus)]
        for step in self.steps:
            models += [ModelRef("ift", base, dataset, seed, step),
                       ModelRef("restored", base, dataset, seed, step, self.corpus)]
        return models

    def previous_step(self, step: int) -> int:
        """The grid step an IFT segment resumes from (0: it starts from the base model)."""
        if step not in self.steps:
            raise ValueError(f"step {step} is not in ift.steps {self.steps}")
        index = self.steps.index(step)
        return self.steps[index - 1] if index > 0 else 0

    def is_pretrained_here(self, base_model: str) -> bool:
        return self.base_models[base_model]["source"] == PRETRAIN_SOURCE

    def model_location(self, ref: ModelRef) -> str:
        """Where a model is loaded from: its directory in the grid, or the hub id / path of an external base."""
        if ref.kind == "base" and not self.is_pretrained_here(ref.base_model):
            return self.base_models[ref.base_model]["source"]
        return self.layout.path("model", model=ref)

    def model_inputs(self, ref: ModelRef) -> list[str]:
        """The files a job reading this model depends on (none for an external base model)."""
        if ref.kind == "base" and not self.is_pretrained_here(ref.base_model):
            return []
        return [self.layout.path("model", model=ref)]

    # --- files ---------------------------------------------------------------------------------------------
    def world_file(self, name: str) -> str:
        return self.layout.path("world_file", file=name)

    def world_dir(self) -> str:
        return self.world_file("x").rsplit("/", 1)[0]

    def task_world_files(self, task: str) -> list[str]:
        """The world files an evaluation of `task` reads (none for lm-eval's own tasks)."""
        return [self.world_file(name) for name in world_files_of_task(task)] if is_world_task(task) else []

    def ift_data_file(self, dataset: str) -> str:
        """The chat data of an IFT dataset: the world's, or the external one mapped by rule prepare_ift_data."""
        if self.datasets[dataset]["source"] == WORLD_SOURCE:
            return self.world_file("ift")
        return self.layout.path("ift_data", dataset=dataset)

    def restore_data_file(self) -> str:
        """The restoration corpus: P_hold's biographies, or the sample written by rule prepare_restore_corpus."""
        if self.config["restore_corpus"]["source"] == WORLD_SOURCE:
            return self.world_file("restore")
        return self.layout.path("restore_data", corpus=self.corpus)

    def eval_file(self, ref: ModelRef, task: str) -> str:
        return self.layout.path("eval", model=ref, task=task)

    def eval_files(self) -> list[str]:
        return [self.eval_file(ref, task) for ref in self.models() for task in self.tasks]

    def summary_file(self) -> str:
        return self.layout.path("summary")

    # --- training settings -------------------------------------------------------------------------------------
    def stage_block(self, stage: str) -> dict[str, Any]:
        """A training stage's settings: the shared `training` block overridden by the stage's own STAGE_KEYS (a
        stage's `threads` left at null inherits the shared value). The grid itself (steps) is not part of it."""
        block = self.config[stage]
        return self.config["training"] | {key: block[key] for key in STAGE_KEYS if block[key] is not None}

    def stage_threads(self, stage: str) -> int:
        return self.stage_block(stage)["threads"]

