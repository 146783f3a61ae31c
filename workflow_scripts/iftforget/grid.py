"""The experiment grid of a validated config: base models x IFT datasets x replicates x seeds x steps x restoration
budgets, the models it trains and evaluates, and the path of each (through the path table in `iftforget.paths`).

Plain Python without heavy imports: the Snakefile imports it to build the DAG, and tests import it directly.
"""

from __future__ import annotations

import functools
from typing import Any

from iftforget.hub import is_hub_id, with_revision
from iftforget.paths import MODEL_PATTERNS, Layout, ModelRef
from iftforget.tasks import is_world_task
from iftforget.world import FRESH_SOURCE, WORLD_FILES

PRETRAIN_SOURCE = "pretrain"  # a base model pre-trained from scratch on the world
WORLD_SOURCE = "world"  # IFT data or restoration corpus taken from the world
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
# Schedules whose learning rate at a step does not depend on the run's length (with no warmup).
LENGTH_FREE_SCHEDULES = ("constant", "constant_with_warmup")
# Replicate r trains with seed s + REPLICATE_SEED_STRIDE * r, so that no two (replicate, seed) runs share a seed.
REPLICATE_SEED_STRIDE = 1000

Group = tuple[str, str, int, int]  # (base model, dataset, replicate, seed): the models of one IFT run


def own_pretrain_block(pretrain: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The pretrain block of one base_models entry: its own non-null keys over the block, its `model` merged key by
    key over pretrain.model. An entry that sets none gets the block as it is (the same jobs, nothing reruns)."""
    own = {key: entry[key] for key in OWN_PRETRAIN_KEYS if entry.get(key) is not None}
    shape = {key: value for key, value in (entry.get("model") or {}).items() if value is not None}
    return pretrain | own | {"model": pretrain["model"] | shape}


def is_hub_source(source: str, keyword: str) -> bool:
    """A source that names a hub repository: not the keyword (pretrain, world) and not a local path."""
    return source != keyword and is_hub_id(source)


class Grid:
    """The grid of a validated config (schemas/config.schema.yaml has filled in every default)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.layout = Layout(config["results_dir"])
        self.base_models = {m["name"]: m for m in config["base_models"]}
        self.datasets = {d["name"]: d for d in config["ift_datasets"]}
        self.corpus = config["restore_corpus"]["name"]
        self.replicates = list(config["replicates"])
        self.seeds = list(config["seeds"])
        self.steps = list(config["ift"]["steps"])
        self.tasks = list(config["eval"]["tasks"])
        restore = config["restore"]
        self.budget = restore["steps"]  # the budget of every step, at which the stages are called
        self.sweep_budgets = [b for b in restore["sweep_budgets"] if b != self.budget]
        self.sweep_steps = list(restore["sweep_steps"]) or list(self.steps)
        self.sweep_datasets = list(restore["sweep_datasets"]) or list(self.datasets)
        # Budgets restored only at their own steps (e.g. a long budget at the last step).
        self.extra_budgets = {extra["budget"]: list(extra["steps"]) for extra in restore["extra_budgets"]}
        # Further restoration corpora, each restoring the IFT@k of its datasets at the budgets the main corpus
        # restores them at, and the control at each of those budgets.
        self.arms = {arm["name"]: arm for arm in restore["arms"]}

    # --- the restoration corpora ------------------------------------------------------------------------------
    def corpora(self) -> list[str]:
        """Every restoration corpus: restore_corpus (the main one), then the arms' in the config's order."""
        return [self.corpus, *self.arms]

    def corpus_datasets(self, corpus: str) -> list[str]:
        """The IFT datasets whose checkpoints are restored on `corpus` (on the main corpus: every one)."""
        if corpus == self.corpus:
            return list(self.datasets)
        return list(self.arms[corpus]["datasets"]) or list(self.datasets)

    def dataset_corpora(self, dataset: str) -> list[str]:
        """The corpora on which the checkpoints of `dataset` are restored, the main corpus first."""
        return [corpus for corpus in self.corpora() if dataset in self.corpus_datasets(corpus)]

    def fresh_corpora(self) -> list[str]:
        """The arms whose corpus rule world_fresh_corpus writes from the world (source world-fresh)."""
        return [name for name, arm in self.arms.items() if arm["source"] == FRESH_SOURCE]

    # --- the models ------------------------------------------------------------------------------------------
    def budgets(self, corpus: str | None = None) -> list[int]:
        """Every budget at which the control is restored on `corpus` (the main corpus when None), ascending: on the
        main corpus every restoration budget, on an arm's those of its datasets."""
        if corpus is None or corpus == self.corpus:
            return sorted([self.budget, *self.sweep_budgets, *self.extra_budgets])
        return sorted({budget for dataset in self.corpus_datasets(corpus) for budget in self.dataset_budgets(dataset)})

    def step_budgets(self, step: int, dataset: str) -> list[int]:
        """The budgets at which IFT@step of the run on `dataset` is restored, ascending."""
        sweep = self.sweep_budgets if step in self.sweep_steps and dataset in self.sweep_datasets else []
        extra = [budget for budget, steps in self.extra_budgets.items() if step in steps]
        return sorted([self.budget, *sweep, *extra])

    def dataset_budgets(self, dataset: str) -> list[int]:
        """The budgets at which some IFT checkpoint of the runs on `dataset` is restored, ascending."""
        return sorted({budget for step in self.steps for budget in self.step_budgets(step, dataset)})

    def base(self, base: str, replicate: int) -> ModelRef:
        return ModelRef("base", base, replicate=replicate)

    def control(self, base: str, replicate: int, seed: int, budget: int | None = None,
                corpus: str | None = None) -> ModelRef:
        return ModelRef("control", base, replicate=replicate, seed=seed, corpus=corpus or self.corpus,
                        budget=self.budget if budget is None else budget)

    def ift(self, base: str, dataset: str, replicate: int, seed: int, step: int) -> ModelRef:
        return ModelRef("ift", base, replicate=replicate, dataset=dataset, seed=seed, step=step)

    def restored(self, base: str, dataset: str, replicate: int, seed: int, step: int,
                 budget: int | None = None, corpus: str | None = None) -> ModelRef:
        return ModelRef("restored", base, replicate=replicate, dataset=dataset, seed=seed, step=step,
                        corpus=corpus or self.corpus, budget=self.budget if budget is None else budget)

    def models(self) -> list[ModelRef]:
        """Every model evaluated: per base model and replicate the base, and per seed the control at every budget
        of each corpus and, per dataset and step, IFT@k and restored@k at each of its budgets on each of its
        corpora."""
        refs: list[ModelRef] = []
        for base in self.base_models:
            for replicate in self.replicates:
                refs.append(self.base(base, replicate))
                for seed in self.seeds:
                    refs += [self.control(base, replicate, seed, budget, corpus)
                             for corpus in self.corpora() for budget in self.budgets(corpus)]
                    for dataset in self.datasets:
                        for step in self.steps:
                            refs.append(self.ift(base, dataset, replicate, seed, step))
                            refs += [self.restored(base, dataset, replicate, seed, step, budget, corpus)
                                     for corpus in self.dataset_corpora(dataset)
                                     for budget in self.step_budgets(step, dataset)]
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

    def groups(self) -> list[Group]:
        """(base model, dataset, replicate, seed) of every IFT run; the analysis compares the models of each."""
        return [(m, d, r, s) for m in self.base_models for d in self.datasets for r in self.replicates
                for s in self.seeds]

    def units(self) -> list[tuple[int, int]]:
        """The (replicate, seed) runs that the pooled analysis of a (base model, dataset) resamples."""
        return [(r, s) for r in self.replicates for s in self.seeds]

    def group_models(self, group: Group, budget: int | None = None, corpus: str | None = None) -> list[ModelRef]:
        """The models of one group at one restoration budget on one corpus (the main one when None), in the
        analysis' order: base, control, then IFT@k and restored@k per step (the steps restored at that budget)."""
        base, dataset, replicate, seed = group
        budget = self.budget if budget is None else budget
        models = [self.base(base, replicate), self.control(base, replicate, seed, budget, corpus)]
        for step in self.steps:
            if budget in self.step_budgets(step, dataset):
                models += [self.ift(base, dataset, replicate, seed, step),
                           self.restored(base, dataset, replicate, seed, step, budget, corpus)]
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
        """Where a model is loaded from: its directory in the grid, the path of a local external base, or the hub id
        of a hub base with its revision as `org/name@revision` (hub ids hold no '@'; iftforget.hub.locate_model
        finds that snapshot in the hub cache)."""
        if ref.kind == "base" and not self.is_pretrained_here(ref.base_model):
            model = self.base_models[ref.base_model]
            if self.is_hub_model(ref.base_model):
                return with_revision(model["source"], model["revision"])
            return model["source"]
        return self.layout.path("model", model=ref)

    def model_inputs(self, ref: ModelRef) -> list[str]:
        """The files a job reading this model depends on (none for an external base model)."""
        if ref.kind == "base" and not self.is_pretrained_here(ref.base_model):
            return []
        return [self.layout.path("model", model=ref)]

    # --- hub artifacts: fetched by the prefetch_* rules (rules/prefetch.smk) on a host with internet ---------------
    def is_hub_model(self, base_model: str) -> bool:
        return is_hub_source(self.base_models[base_model]["source"], PRETRAIN_SOURCE)

    def hub_models(self) -> list[str]:
        """The base models read from the hub (by name)."""
        return [name for name in self.base_models if self.is_hub_model(name)]

    def hub_datasets(self) -> list[str]:
        """The IFT datasets read from the hub (by name); rule prefetch_ift_data maps them."""
        return [name for name, d in self.datasets.items() if is_hub_source(d["source"], WORLD_SOURCE)]

    def local_datasets(self) -> list[str]:
        """The IFT datasets read from local files (by name); rule prepare_ift_data maps them."""
        return [name for name, d in self.datasets.items()
                if d["source"] != WORLD_SOURCE and name not in self.hub_datasets()]

    def hub_corpora(self) -> list[str]:
        """The restoration corpus if it is read from the hub (rule prefetch_restore_corpus samples it)."""
        return [self.corpus] if is_hub_source(self.config["restore_corpus"]["source"], WORLD_SOURCE) else []

    def local_corpora(self) -> list[str]:
        """The restoration corpus if it is read from a local file (rule prepare_restore_corpus samples it)."""
        source = self.config["restore_corpus"]["source"]
        return [self.corpus] if source != WORLD_SOURCE and not self.hub_corpora() else []

    def external_tasks(self) -> list[str]:
        """The tasks of lm-eval itself or of eval.include_path (not the world's probes): rule prefetch_task loads each
        once through lm-eval, so that its datasets are in the datasets cache."""
        return [task for task in self.tasks if not is_world_task(task)]

    def prefetched_model_files(self, ref: ModelRef) -> list[str]:
        """The record of the prefetch of a hub base model, for the jobs that read it (none for any other model)."""
        if ref.kind == "base" and self.is_hub_model(ref.base_model):
            return [self.layout.path("prefetched_model", model=ref.base_model)]
        return []

    def prefetched_task_files(self) -> list[str]:
        """The records of the prefetch of every task that is not a world probe, for the eval jobs."""
        return [self.layout.path("prefetched_task", task=task) for task in self.external_tasks()]

    def prefetch_targets(self) -> list[str]:
        """Everything fetched from the hub (the inputs of rule prefetch): each hub model, each lm-eval task's datasets,
        each hub IFT dataset mapped to chats, the sample of a hub restoration corpus. Empty for the default world."""
        targets = [self.layout.path("prefetched_model", model=name) for name in self.hub_models()]
        targets += self.prefetched_task_files()
        targets += [self.ift_data_file(name) for name in self.hub_datasets()]
        targets += [self.restore_data_file() for _ in self.hub_corpora()]
        return targets

    # --- seeds ---------------------------------------------------------------------------------------------------
    def world_block(self, replicate: int) -> dict[str, Any]:
        """The world of one replicate: the config's world with its seed moved on by the replicate."""
        return self.config["world"] | {"seed": self.config["world"]["seed"] + replicate}

    def pretrain_block(self, base: str) -> dict[str, Any]:
        """The pre-training settings of a base model pre-trained here (own_pretrain_block)."""
        return own_pretrain_block(self.config["pretrain"], self.base_models[base])

    def pretrain_seed(self, replicate: int) -> int:
        return self.config["pretrain"]["seed"] + replicate

    @staticmethod
    def run_seed(replicate: int, seed: int) -> int:
        """The training seed (data order, dropout) of IFT and restoration in one (replicate, seed) run."""
        return seed + REPLICATE_SEED_STRIDE * replicate

    # --- files ---------------------------------------------------------------------------------------------
    def world_file(self, name: str, replicate: int | str = "{replicate}") -> str:
        """A file of the world of a replicate (a pattern with the {replicate} wildcard when none is given)."""
        return self.layout.pattern("world_file", file=name, replicate=replicate)

    def world_dir(self, replicate: int | str = "{replicate}") -> str:
        return self.world_file("x", replicate).rsplit("/", 1)[0]

    def world_inputs(self, replicate: int) -> list[str]:
        """Every file of a replicate's world when a world task is evaluated (none for lm-eval's tasks alone)."""
        if not any(is_world_task(task) for task in self.tasks):
            return []
        return [self.world_file(name, replicate) for name in WORLD_FILES]

    def ift_data_file(self, dataset: str, replicate: int | str = "{replicate}") -> str:
        """The chat data of an IFT dataset: the world's mix (rule world_ift_data), or the external one mapped by
        rule prepare_ift_data."""
        if self.datasets[dataset]["source"] == WORLD_SOURCE:
            return self.layout.pattern("world_ift_data", dataset=dataset, replicate=replicate)
        return self.layout.path("ift_data", dataset=dataset)

    def restore_data_file(self, corpus: str | None = None, replicate: int | str = "{replicate}") -> str:
        """A restoration corpus (the main one when None): P_hold's biographies or the sample written by rule
        prepare_restore_corpus; an arm's, the file rule world_fresh_corpus writes from the world."""
        if corpus in self.arms:
            return self.layout.pattern("fresh_corpus", corpus=corpus, replicate=replicate)
        if self.config["restore_corpus"]["source"] == WORLD_SOURCE:
            return self.world_file("restore", replicate)
        return self.layout.path("restore_data", corpus=self.corpus)

    def eval_file(self, ref: ModelRef, task: str) -> str:
        return self.layout.path("eval", model=ref, task=task)

    def eval_files(self) -> list[str]:
        return [self.eval_file(ref, task) for ref in self.models() for task in self.tasks]

    def summary_file(self) -> str:
        return self.layout.path("summary")

    # --- training settings -------------------------------------------------------------------------------------
    def stage_block(self, stage: str, base: str | None = None) -> dict[str, Any]:
        """A training stage's settings: the shared `training` block overridden by the stage's own STAGE_KEYS (a
        stage's `threads` left at null inherits the shared value). The grid itself (steps) is not part of it. For
        pre-training, `base` names the base model, whose own keys replace the block's (pretrain_block)."""
        block = self.pretrain_block(base) if stage == "pretrain" and base is not None else self.config[stage]
        return self.config["training"] | {key: block[key] for key in STAGE_KEYS if block[key] is not None}

    def stage_threads(self, stage: str) -> int:
        return self.stage_block(stage)["threads"]

    def split_settings(self, block: dict[str, Any], result_keys: tuple[str, ...]) -> tuple[dict, dict]:
        """(what changes a result, what only changes how the job runs) of a settings block."""
        result = {key: block[key] for key in result_keys}
        return result, {key: value for key, value in block.items() if key not in result_keys}

    def stage_settings(self, stage: str, base: str | None = None) -> tuple[dict, dict]:
        """(what changes a training stage's result, what only changes how its jobs run) of base model `base`'s jobs;
        a result key at its UNTRACKED_AT value goes with the second, so that adding the key reran no finished job."""
        result, run = self.split_settings(self.stage_block(stage, base), STAGE_RESULT_KEYS)
        for key, value in UNTRACKED_AT.items():
            if result.get(key) == value:
                run[key] = result.pop(key)
        return result, run

    # --- experiment tracking -------------------------------------------------------------------------------------
    @staticmethod
    def built_model_path(stage: str, wildcards: dict[str, str]) -> str:
        """The path (below models/) of the model a training job of `stage` builds, from the job's wildcards (a
        restoration job without a step restores the base: the control)."""
        if stage == "restore":
            kind = "restored" if "step" in wildcards else "control"
        else:
            kind = {"pretrain": "base", "ift": "ift"}[stage]
        return MODEL_PATTERNS[kind].format(**wildcards)

    def tracking(self, stage: str, wildcards: dict[str, str]) -> tuple[str, str]:
        """(run name, log folder) of a tracked training job (training.report_to): <stage>/<model path>, and that
        path below <results_dir>/tracking/."""
        path = self.built_model_path(stage, wildcards)
        return f"{stage}/{path}", self.layout.tracking(stage, path)

    # --- retention -------------------------------------------------------------------------------------------
    def keeps_ift(self, artifact: str, last: bool) -> bool:
        """Whether an IFT segment's `model` or `trainer_state` is kept (ift.keep_models, ift.keep_trainer_state)
        rather than temp(), for the segment of the last grid step (`last`) or another one."""
        key = {"model": "keep_models", "trainer_state": "keep_trainer_state"}[artifact]
        setting = self.config["ift"][key]
        return setting == "all" or (setting == "last" and last)

    def separate_last_segment(self) -> bool:
        """Whether the last grid step's segment keeps what the other segments do not (rule ift_last builds it)."""
        return any(self.keeps_ift(artifact, True) != self.keeps_ift(artifact, False)
                   for artifact in ("model", "trainer_state"))

    def keeps_restored(self) -> bool:
        """Whether restored models and controls are kept once evaluated (restore.keep_models), rather than temp()."""
        return self.config["restore"]["keep_models"] == "all"

    def schedule_length(self, step: int) -> int:
        """The learning-rate schedule's length for the IFT segment that stops at `step`: the whole run's
        (ift.total_steps) when the schedule depends on it, else the segment's own stop step, so that raising
        ift.total_steps to append a step leaves the earlier segments as they are."""
        ift = self.config["ift"]
        if ift["schedule"] in LENGTH_FREE_SCHEDULES and ift["warmup_ratio"] == 0:
            return step
        return ift["total_steps"]
