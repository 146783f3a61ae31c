"""The axes of the grid and the models they span: base models x IFT datasets x IFT recipes x replicates x seeds x
steps, each IFT checkpoint restored at its budgets on its restoration corpora, and the control at each budget (shared
by every recipe): what the workflow
trains and evaluates, as `ModelRef`s (their paths are `iftforget.paths`'). Also what a job's wildcards say it trains
from: the step an IFT segment resumes, the model a restoration starts from.

Plain Python without heavy imports: the Snakefile imports it to build the DAG, and tests import it directly.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from iftforget.paths import DEFAULT_VARIANT, ModelRef, built_kind, wildcard_variant

Group = tuple[str, str, int, int]  # (base model, dataset, replicate, seed): the models of one IFT run


class Axes:
    """The axes of a validated config's grid (schemas/config.schema.yaml has filled in every default)."""

    def __init__(self, config: dict[str, Any]) -> None:
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
        # Further IFT recipes (ift.variants), each a run of its own beside the ift block's, of the base models and
        # datasets it names (every one when it names none), restored like the ift block's run.
        self.variants = {variant["name"]: variant for variant in config["ift"]["variants"]}

    # --- the IFT recipes -----------------------------------------------------------------------------------------
    def recipes(self, base: str, dataset: str) -> list[str]:
        """The IFT recipes of the runs of `base` on `dataset`: the ift block's (DEFAULT_VARIANT) first, then each
        variant that applies to them, in the config's order."""
        return [DEFAULT_VARIANT, *(name for name, variant in self.variants.items()
                                   if base in (variant["base_models"] or [base])
                                   and dataset in (variant["datasets"] or [dataset]))]

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

    # --- the restoration budgets ---------------------------------------------------------------------------------
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

    # --- the models ------------------------------------------------------------------------------------------
    def base(self, base: str, replicate: int) -> ModelRef:
        return ModelRef("base", base, replicate=replicate)

    def control(self, base: str, replicate: int, seed: int, budget: int | None = None,
                corpus: str | None = None) -> ModelRef:
        return ModelRef("control", base, replicate=replicate, seed=seed, corpus=corpus or self.corpus,
                        budget=self.budget if budget is None else budget)

    def ift(self, base: str, dataset: str, replicate: int, seed: int, step: int,
            variant: str = DEFAULT_VARIANT) -> ModelRef:
        return ModelRef("ift", base, replicate=replicate, dataset=dataset, seed=seed, step=step, variant=variant)

    def restored(self, base: str, dataset: str, replicate: int, seed: int, step: int, budget: int | None = None,
                 corpus: str | None = None, variant: str = DEFAULT_VARIANT) -> ModelRef:
        return ModelRef("restored", base, replicate=replicate, dataset=dataset, seed=seed, step=step,
                        corpus=corpus or self.corpus, budget=self.budget if budget is None else budget,
                        variant=variant)

    def models(self) -> list[ModelRef]:
        """Every model evaluated: per base model and replicate the base, and per seed the control at every budget
        of each corpus and, per dataset, IFT recipe and step, IFT@k and restored@k at each of its budgets on each of
        its corpora (the ift block's recipe first)."""
        refs: list[ModelRef] = []
        for base in self.base_models:
            for replicate in self.replicates:
                refs.append(self.base(base, replicate))
                for seed in self.seeds:
                    refs += [self.control(base, replicate, seed, budget, corpus)
                             for corpus in self.corpora() for budget in self.budgets(corpus)]
                    for dataset in self.datasets:
                        for variant in self.recipes(base, dataset):
                            for step in self.steps:
                                refs.append(self.ift(base, dataset, replicate, seed, step, variant))
                                refs += [self.restored(base, dataset, replicate, seed, step, budget, corpus, variant)
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
        """(base model, dataset, replicate, seed) of every IFT run of the ift block's recipe; the analysis compares
        the models of each (a variant's runs are the same groups, of the recipes that `recipes` gives)."""
        return [(m, d, r, s) for m in self.base_models for d in self.datasets for r in self.replicates
                for s in self.seeds]

    def units(self) -> list[tuple[int, int]]:
        """The (replicate, seed) runs that the pooled analysis of a (base model, dataset) resamples."""
        return [(r, s) for r in self.replicates for s in self.seeds]

    def group_models(self, group: Group, budget: int | None = None, corpus: str | None = None,
                     variant: str = DEFAULT_VARIANT) -> list[ModelRef]:
        """The models of one group at one restoration budget on one corpus (the main one when None), with one IFT
        recipe, in the analysis' order: base, control, then IFT@k and restored@k per step (the steps restored at
        that budget)."""
        base, dataset, replicate, seed = group
        budget = self.budget if budget is None else budget
        models = [self.base(base, replicate), self.control(base, replicate, seed, budget, corpus)]
        for step in self.steps:
            if budget in self.step_budgets(step, dataset):
                models += [self.ift(base, dataset, replicate, seed, step, variant),
                           self.restored(base, dataset, replicate, seed, step, budget, corpus, variant)]
        return models

    # --- what a training job starts from ---------------------------------------------------------------------
    def previous_step(self, step: int) -> int:
        """The grid step an IFT segment resumes from (0: it starts from the base model)."""
        if step not in self.steps:
            raise ValueError(f"step {step} is not in ift.steps {self.steps}")
        index = self.steps.index(step)
        return self.steps[index - 1] if index > 0 else 0

    def restoration_start(self, wildcards: Mapping[str, str]) -> ModelRef:
        """The model a restoration job trains, from its wildcards: IFT@k of the recipe they name for restored@k, the
        base for the control (which of the two the job builds is `iftforget.paths.built_kind`'s call)."""
        replicate = int(wildcards["replicate"])
        if built_kind("restore", wildcards) == "control":
            return self.base(wildcards["model"], replicate)
        return self.ift(wildcards["model"], wildcards["dataset"], replicate, int(wildcards["seed"]),
                        int(wildcards["step"]), wildcard_variant(wildcards))
