"""The experiment grid and the path of every artifact in it.

Plain Python without heavy imports: the Snakefile imports it to build the DAG, and tests import it directly.
Every path is relative to the working directory, under `results_dir`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORLD_FILES = ("people", "pretrain", "ift", "restore", "completion", "mc", "chat", "ppl_pretrain", "ppl_chat")
PRETRAIN_SOURCE = "pretrain"
WORLD_SOURCE = "world"
STAGE_KEYS = (
    "learning_rate", "batch_size", "gradient_accumulation_steps", "schedule", "warmup_ratio", "weight_decay", "threads"
)

_IFT = re.compile(r"^(?P<model>[^/]+)/(?P<dataset>[^/]+)/seed(?P<seed>\d+)/ift-step(?P<step>\d+)$")
_RESTORED = re.compile(
    r"^(?P<model>[^/]+)/(?P<dataset>[^/]+)/seed(?P<seed>\d+)/ift-step(?P<step>\d+)-restored-(?P<corpus>[^/]+)$"
)
_CONTROL = re.compile(r"^(?P<model>[^/]+)/base-restored-(?P<corpus>[^/]+)/seed(?P<seed>\d+)$")
_BASE = re.compile(r"^(?P<model>[^/]+)/base$")


@dataclass(frozen=True)
class ModelRef:
    """One model of the grid: the base, IFT@k, restored@k, or the restored base (control, k = 0)."""

    kind: str  # base | ift | restored | control
    base_model: str
    dataset: str = ""
    seed: int | None = None
    step: int = 0
    corpus: str = ""

    @property
    def path(self) -> str:
        """The model's path below `<results_dir>/models` (and of its evals below `<results_dir>/eval`)."""
        if self.kind == "base":
            return f"{self.base_model}/base"
        if self.kind == "ift":
            return f"{self.base_model}/{self.dataset}/seed{self.seed}/ift-step{self.step}"
        if self.kind == "restored":
            return f"{self.base_model}/{self.dataset}/seed{self.seed}/ift-step{self.step}-restored-{self.corpus}"
        if self.kind == "control":
            return f"{self.base_model}/base-restored-{self.corpus}/seed{self.seed}"
        raise ValueError(f"unknown model kind {self.kind!r}")

    def info(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "base_model": self.base_model,
            "dataset": self.dataset,
            "seed": self.seed,
            "step": self.step,
            "corpus": self.corpus,
        }


def parse_model_path(path: str) -> ModelRef:
    """The inverse of ModelRef.path."""
    for kind, pattern in (("ift", _IFT), ("restored", _RESTORED), ("control", _CONTROL), ("base", _BASE)):
        match = pattern.match(path)
        if match:
            groups = match.groupdict()
            return ModelRef(
                kind=kind,
                base_model=groups["model"],
                dataset=groups.get("dataset") or "",
                seed=int(groups["seed"]) if groups.get("seed") is not None else None,
                step=int(groups.get("step") or 0),
                corpus=groups.get("corpus") or "",
            )
    raise ValueError(f"{path!r} is not the path of a model of the grid")


class Grid:
    """The grid of a validated config: base models x IFT datasets x seeds x steps, and every artifact's path."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.root = Path(config["results_dir"])
        self.base_models = {m["name"]: m for m in config["base_models"]}
        self.datasets = {d["name"]: d for d in config["ift_datasets"]}
        self.corpus = config["restore_corpus"]["name"]
        self.seeds = list(config["seeds"])
        self.steps = list(config["ift"]["steps"])
        self.tasks = list(config["eval"]["tasks"])

    # --- artifact paths -------------------------------------------------------------------------------------
    def world_file(self, name: str) -> str:
        return str(self.root / "world" / f"{name}.jsonl")

    def world_dir(self) -> str:
        return str(self.root / "world")

    def tokenizer_dir(self) -> str:
        return str(self.root / "world" / "tokenizer")

    def model_dir(self, model_path: str) -> str:
        return str(self.root / "models" / model_path)

    def trainer_state_dir(self, model_dir: str) -> str:
        """Optimizer, scheduler and RNG state of an IFT segment, beside its model; temporary in the workflow."""
        return f"{model_dir}.trainer-state"

    def eval_file(self, model_path: str, task: str) -> str:
        return str(self.root / "eval" / model_path / f"{task}.json")

    def summary_file(self) -> str:
        return str(self.root / "summary" / "scores.csv")

    # --- the grid ------------------------------------------------------------------------------------------
    def is_pretrained_here(self, base_model: str) -> bool:
        return self.base_models[base_model]["source"] == PRETRAIN_SOURCE

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

    def eval_files(self) -> list[str]:
        return [self.eval_file(ref.path, task) for ref in self.models() for task in self.tasks]

    def previous_step(self, step: int) -> int:
        """The grid step an IFT segment resumes from (0: it starts from the base model)."""
        if step not in self.steps:
            raise ValueError(f"step {step} is not in ift.steps {self.steps}")
        index = self.steps.index(step)
        return self.steps[index - 1] if index > 0 else 0

    def model_location(self, model_path: str) -> str:
        """Where a model is loaded from: its directory in the grid, or the hub id / path of an external base."""
        ref = parse_model_path(model_path)
        if ref.kind == "base" and not self.is_pretrained_here(ref.base_model):
            return self.base_models[ref.base_model]["source"]
        return self.model_dir(model_path)

    def model_inputs(self, model_path: str) -> list[str]:
        """The files a job reading this model depends on (none for an external base model)."""
        ref = parse_model_path(model_path)
        if ref.kind == "base" and not self.is_pretrained_here(ref.base_model):
            return []
        return [self.model_dir(model_path)]

    def needs_world(self) -> bool:
        return (
            any(m["source"] == PRETRAIN_SOURCE for m in self.base_models.values())
            or any(d["source"] == WORLD_SOURCE for d in self.datasets.values())
            or self.config["restore_corpus"]["source"] == WORLD_SOURCE
            or any(t.startswith("world_") for t in self.tasks)
        )

    def stage_settings(self, stage: str, seed: int | None = None) -> dict[str, Any]:
        """A training stage's arguments: the shared `training` block overridden by the stage's own keys."""
        settings = dict(self.config["training"])
        # A stage key left at null (threads) inherits the shared value.
        settings.update({k: v for k, v in self.config[stage].items() if k in STAGE_KEYS and v is not None})
        if isinstance(self.config[stage].get("steps"), int):
            settings["steps"] = self.config[stage]["steps"]
        settings["seed"] = self.config[stage].get("seed", 0) if seed is None else seed
        return settings
