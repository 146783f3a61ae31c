"""The settings each job of the grid is handed: a training stage's block (the shared `training` block under the
stage's own keys, a base model's own pre-training keys over the pretrain block), split into what changes a result
(tracked params: a changed value reruns the jobs) and what only changes how a job runs (untracked); the same split of
the eval block; the length of an IFT segment's schedule; and the seeds of each replicate and run. The rules hand
them to each job as its --job and --execution (iftforget.jobs).

Plain Python without heavy imports: the Snakefile imports it to build the DAG, and tests import it directly.
"""

from __future__ import annotations

from typing import Any

from iftforget.grid.axes import Axes
from iftforget.paths import DEFAULT_VARIANT

# The keys a training stage's block (pretrain, ift, restore) sets for itself; everything else comes from `training`.
STAGE_KEYS = (
    "learning_rate", "batch_size", "gradient_accumulation_steps", "schedule", "warmup_ratio", "weight_decay", "threads"
)
# What changes a training or evaluation result, and what only changes how the job runs (threads, devices, logging,
# in-job saves, kernels: the same computation). Rules pass the first as tracked params, so that a changed value
# reruns the jobs, and the second through params Snakemake does not track.
STAGE_RESULT_KEYS = ("learning_rate", "batch_size", "gradient_accumulation_steps", "schedule", "warmup_ratio",
                     "weight_decay", "max_length", "packing", "precision", "optim", "save_dtype")
# Result keys added after runs were made, left out of the tracked params at the value that does what the workflow did
# before them, so that a finished run is not rerun for a key it never had (any other value is tracked and reruns).
UNTRACKED_AT = {"save_dtype": "float32"}
EVAL_RESULT_KEYS = ("num_fewshot", "dtype", "bootstrap_iters", "seed", "include_path", "limit")
# The keys of the pretrain block that a base model pre-trained here may set for itself (base_models[].<key>, null
# keeps the block's), besides its architecture `model`, merged key by key over pretrain.model.
OWN_PRETRAIN_KEYS = ("steps", "learning_rate", "batch_size", "gradient_accumulation_steps", "schedule", "warmup_ratio",
                     "weight_decay")
# The keys of the ift block that an IFT variant (ift.variants[].<key>, null keeps the block's) sets for its own run.
VARIANT_KEYS = ("learning_rate", "batch_size", "gradient_accumulation_steps", "schedule", "warmup_ratio",
                "weight_decay")
# Schedules whose learning rate at a step does not depend on the run's length (with no warmup).
LENGTH_FREE_SCHEDULES = ("constant", "constant_with_warmup")
# Replicate r trains with seed s + REPLICATE_SEED_STRIDE * r, so that no two (replicate, seed) runs share a seed.
REPLICATE_SEED_STRIDE = 1000


def own_pretrain_block(pretrain: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The pretrain block of one base_models entry: its own non-null keys over the block, its `model` merged key by
    key over pretrain.model. An entry that sets none gets the block as it is (the same jobs, nothing reruns)."""
    own = {key: entry[key] for key in OWN_PRETRAIN_KEYS if entry.get(key) is not None}
    shape = {key: value for key, value in (entry.get("model") or {}).items() if value is not None}
    return pretrain | own | {"model": pretrain["model"] | shape}


def variant_ift_block(ift: dict[str, Any], variant: dict[str, Any] | None) -> dict[str, Any]:
    """The ift block of one IFT recipe: a variant's own non-null VARIANT_KEYS over the block (the block itself for
    the ift block's recipe, None)."""
    return ift | {key: variant[key] for key in VARIANT_KEYS if variant and variant.get(key) is not None}


def split_settings(block: dict[str, Any], result_keys: tuple[str, ...]) -> tuple[dict, dict]:
    """(what changes a result, what only changes how the job runs) of a settings block."""
    result = {key: block[key] for key in result_keys}
    return result, {key: value for key, value in block.items() if key not in result_keys}


class Stages:
    """The settings of the grid's training stages (pretrain, ift, restore) and evaluation, and its seeds."""

    def __init__(self, config: dict[str, Any], axes: Axes) -> None:
        self.config = config
        self.axes = axes

    # --- training settings -------------------------------------------------------------------------------------
    def pretrain_block(self, base: str) -> dict[str, Any]:
        """The pre-training settings of a base model pre-trained here (own_pretrain_block)."""
        return own_pretrain_block(self.config["pretrain"], self.axes.base_models[base])

    def ift_block(self, variant: str = DEFAULT_VARIANT) -> dict[str, Any]:
        """The ift block of an IFT recipe: the block itself, or a variant's own keys over it (variant_ift_block)."""
        return variant_ift_block(self.config["ift"], self.axes.variants.get(variant))

    def stage_block(self, stage: str, base: str | None = None, variant: str = DEFAULT_VARIANT) -> dict[str, Any]:
        """A training stage's settings: the shared `training` block overridden by the stage's own STAGE_KEYS (a
        stage's `threads` left at null inherits the shared value). The grid itself (steps) is not part of it. For
        pre-training, `base` names the base model, whose own keys replace the block's (pretrain_block); for IFT,
        `variant` names the recipe, whose own keys replace the block's (ift_block)."""
        if stage == "pretrain" and base is not None:
            block = self.pretrain_block(base)
        else:
            block = self.ift_block(variant) if stage == "ift" else self.config[stage]
        return self.config["training"] | {key: block[key] for key in STAGE_KEYS if block[key] is not None}

    def stage_threads(self, stage: str) -> int:
        return self.stage_block(stage)["threads"]

    def stage_settings(self, stage: str, base: str | None = None,
                       variant: str = DEFAULT_VARIANT) -> tuple[dict, dict]:
        """(what changes a training stage's result, what only changes how its jobs run) of base model `base`'s jobs
        (of IFT recipe `variant`'s, for IFT); a result key at its UNTRACKED_AT value goes with the second, so that
        adding the key reran no finished job."""
        result, run = split_settings(self.stage_block(stage, base, variant), STAGE_RESULT_KEYS)
        for key, value in UNTRACKED_AT.items():
            if result.get(key) == value:
                run[key] = result.pop(key)
        return result, run

    def eval_settings(self) -> tuple[dict, dict]:
        """(what changes an eval result, what only changes how the eval job runs) of the eval block."""
        return split_settings(self.config["eval"], EVAL_RESULT_KEYS)

    def schedule_length(self, step: int, variant: str = DEFAULT_VARIANT) -> int:
        """The learning-rate schedule's length for the IFT segment that stops at `step` (of IFT recipe `variant`):
        the whole run's (ift.total_steps) when the schedule depends on it, else the segment's own stop step, so that
        raising ift.total_steps to append a step leaves the earlier segments as they are."""
        ift = self.ift_block(variant)
        if ift["schedule"] in LENGTH_FREE_SCHEDULES and ift["warmup_ratio"] == 0:
            return step
        return ift["total_steps"]

    # --- seeds ---------------------------------------------------------------------------------------------------
    def world_block(self, replicate: int) -> dict[str, Any]:
        """The world of one replicate: the config's world with its seed moved on by the replicate."""
        return self.config["world"] | {"seed": self.config["world"]["seed"] + replicate}

    def pretrain_seed(self, replicate: int) -> int:
        return self.config["pretrain"]["seed"] + replicate

    @staticmethod
    def run_seed(replicate: int, seed: int) -> int:
        """The training seed (data order, dropout) of IFT and restoration in one (replicate, seed) run: the same for
        every IFT recipe, so that the recipes are compared on paired runs."""
        return seed + REPLICATE_SEED_STRIDE * replicate
