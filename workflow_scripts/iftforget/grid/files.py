"""The files of the grid's jobs: the world's files, the IFT data and restoration corpus each job reads (as its source
says), where a model is loaded from and what a job reading it depends on, the prefetch records, the eval JSONs and
the summary; each a path of the path table in `iftforget.paths`.

Plain Python without heavy imports: the Snakefile imports it to build the DAG, and tests import it directly.
"""

from __future__ import annotations

from iftforget.grid.axes import Axes
from iftforget.grid.sources import Sources
from iftforget.hub import with_revision
from iftforget.paths import Layout, ModelRef
from iftforget.world_data import WORLD_FILES


class Files:
    """The paths of the grid's inputs and outputs below one results folder (`layout`)."""

    def __init__(self, layout: Layout, axes: Axes, sources: Sources) -> None:
        self.layout = layout
        self.axes = axes
        self.sources = sources

    # --- the world and the data ----------------------------------------------------------------------------------
    def world_file(self, name: str, replicate: int | str = "{replicate}") -> str:
        """A file of the world of a replicate (a pattern with the {replicate} wildcard when none is given)."""
        return self.layout.pattern("world_file", file=name, replicate=replicate)

    def world_dir(self, replicate: int | str = "{replicate}") -> str:
        return self.world_file("x", replicate).rsplit("/", 1)[0]

    def world_inputs(self, replicate: int) -> list[str]:
        """Every file of a replicate's world when a world task is evaluated (none for lm-eval's tasks alone)."""
        if not self.sources.any_world_task():
            return []
        return [self.world_file(name, replicate) for name in WORLD_FILES]

    def ift_data_file(self, dataset: str, replicate: int | str = "{replicate}") -> str:
        """The chat data of an IFT dataset: the world's mix (rule world_ift_data), or the external one mapped by
        rule prepare_ift_data."""
        if self.sources.is_world_dataset(dataset):
            return self.layout.pattern("world_ift_data", dataset=dataset, replicate=replicate)
        return self.layout.path("ift_data", dataset=dataset)

    def restore_data_file(self, corpus: str | None = None, replicate: int | str = "{replicate}") -> str:
        """A restoration corpus (the main one when None): P_hold's biographies or the sample written by rule
        prepare_restore_corpus; an arm's, the file rule world_fresh_corpus writes from the world."""
        if corpus in self.axes.arms:
            return self.layout.pattern("fresh_corpus", corpus=corpus, replicate=replicate)
        if self.sources.is_world_corpus():
            return self.world_file("restore", replicate)
        return self.layout.path("restore_data", corpus=self.axes.corpus)

    # --- the models ------------------------------------------------------------------------------------------
    def model_location(self, ref: ModelRef) -> str:
        """Where a model is loaded from: its directory in the grid, the path of a local external base, or the hub id
        of a hub base with its revision as `org/name@revision` (hub ids hold no '@'; iftforget.hub.locate_model
        finds that snapshot in the hub cache)."""
        if ref.kind == "base" and not self.sources.is_pretrained_here(ref.base_model):
            model = self.axes.base_models[ref.base_model]
            if self.sources.is_hub_model(ref.base_model):
                return with_revision(model["source"], model["revision"])
            return model["source"]
        return self.layout.path("model", model=ref)

    def model_inputs(self, ref: ModelRef) -> list[str]:
        """The files a job reading this model depends on (none for an external base model)."""
        if ref.kind == "base" and not self.sources.is_pretrained_here(ref.base_model):
            return []
        return [self.layout.path("model", model=ref)]

    # --- what the prefetch fetched from the hub (rules/prefetch.smk) -----------------------------------------------
    def prefetched_model_files(self, ref: ModelRef) -> list[str]:
        """The record of the prefetch of a hub base model, for the jobs that read it (none for any other model)."""
        if ref.kind == "base" and self.sources.is_hub_model(ref.base_model):
            return [self.layout.path("prefetched_model", model=ref.base_model)]
        return []

    def prefetched_task_files(self) -> list[str]:
        """The records of the prefetch of every task that is not a world probe, for the eval jobs."""
        return [self.layout.path("prefetched_task", task=task) for task in self.sources.external_tasks()]

    def prefetch_targets(self) -> list[str]:
        """Everything fetched from the hub (the inputs of rule prefetch): each hub model, each lm-eval task's datasets,
        each hub IFT dataset mapped to chats, the sample of a hub restoration corpus. Empty for the default world."""
        targets = [self.layout.path("prefetched_model", model=name) for name in self.sources.hub_models()]
        targets += self.prefetched_task_files()
        targets += [self.ift_data_file(name) for name in self.sources.hub_datasets()]
        targets += [self.restore_data_file() for _ in self.sources.hub_corpora()]
        return targets

    # --- the results -------------------------------------------------------------------------------------------
    def eval_file(self, ref: ModelRef, task: str) -> str:
        return self.layout.path("eval", model=ref, task=task)

    def eval_files(self) -> list[str]:
        return [self.eval_file(ref, task) for ref in self.axes.models() for task in self.axes.tasks]

    def base_eval_files(self) -> list[str]:
        """The eval JSONs of the base models alone (every base model and replicate): what a calibration of the
        pre-training reads, with no IFT or restoration."""
        bases = [ref for ref in self.axes.models() if ref.kind == "base"]
        return [self.eval_file(ref, task) for ref in bases for task in self.axes.tasks]

    def summary_file(self) -> str:
        return self.layout.path("summary")
