"""Where the grid's inputs come from: each base model, IFT dataset, restoration corpus and task sorted into made here
(pre-trained on the world, taken from the world, written from the world's fresh people), read from the hub (fetched
by the prefetch_* rules, rules/prefetch.smk) or read from a local path (mapped by the prepare_* rules,
rules/data.smk). The paths these sources give are `iftforget.grid.files`'.

Plain Python without heavy imports: the Snakefile imports it to build the DAG.
"""

from __future__ import annotations

from typing import Any

from iftforget.grid.axes import Axes
from iftforget.hub import is_hub_id
from iftforget.tasks import is_world_task
from iftforget.world_fresh import FRESH_SOURCE

PRETRAIN_SOURCE = "pretrain"  # a base model pre-trained from scratch on the world
WORLD_SOURCE = "world"  # IFT data or restoration corpus taken from the world


def is_hub_source(source: str, keyword: str) -> bool:
    """A source that names a hub repository: not the keyword (pretrain, world) and not a local path."""
    return source != keyword and is_hub_id(source)


class Sources:
    """The sources of the grid's base models (`axes.base_models`), IFT datasets (`axes.datasets`), restoration
    corpora (restore_corpus, `axes.arms`) and tasks (`axes.tasks`)."""

    def __init__(self, axes: Axes, restore_corpus: dict[str, Any]) -> None:
        self.axes = axes
        self.corpus_source = restore_corpus["source"]

    # --- base models ---------------------------------------------------------------------------------------------
    def is_pretrained_here(self, base_model: str) -> bool:
        return self.axes.base_models[base_model]["source"] == PRETRAIN_SOURCE

    def is_hub_model(self, base_model: str) -> bool:
        return is_hub_source(self.axes.base_models[base_model]["source"], PRETRAIN_SOURCE)

    def hub_models(self) -> list[str]:
        """The base models read from the hub (by name); rule prefetch_model fetches them."""
        return [name for name in self.axes.base_models if self.is_hub_model(name)]

    # --- IFT datasets --------------------------------------------------------------------------------------------
    def is_world_dataset(self, dataset: str) -> bool:
        """An IFT dataset mixed from the world's QA and generic instructions (rule world_ift_data)."""
        return self.axes.datasets[dataset]["source"] == WORLD_SOURCE

    def world_datasets(self) -> list[str]:
        return [name for name in self.axes.datasets if self.is_world_dataset(name)]

    def hub_datasets(self) -> list[str]:
        """The IFT datasets read from the hub (by name); rule prefetch_ift_data maps them."""
        return [name for name, d in self.axes.datasets.items() if is_hub_source(d["source"], WORLD_SOURCE)]

    def local_datasets(self) -> list[str]:
        """The IFT datasets read from local files (by name); rule prepare_ift_data maps them."""
        return [name for name in self.axes.datasets
                if not self.is_world_dataset(name) and name not in self.hub_datasets()]

    # --- restoration corpora -------------------------------------------------------------------------------------
    def is_world_corpus(self) -> bool:
        """Whether the main restoration corpus is the world's (P_hold's biographies, a file of rule world)."""
        return self.corpus_source == WORLD_SOURCE

    def hub_corpora(self) -> list[str]:
        """The main restoration corpus if it is read from the hub (rule prefetch_restore_corpus samples it)."""
        return [self.axes.corpus] if is_hub_source(self.corpus_source, WORLD_SOURCE) else []

    def local_corpora(self) -> list[str]:
        """The main restoration corpus if it is read from a local file (rule prepare_restore_corpus samples it)."""
        return [self.axes.corpus] if not self.is_world_corpus() and not self.hub_corpora() else []

    def fresh_corpora(self) -> list[str]:
        """The arms whose corpus rule world_fresh_corpus writes from the world (source world-fresh)."""
        return [name for name, arm in self.axes.arms.items() if arm["source"] == FRESH_SOURCE]

    # --- tasks ---------------------------------------------------------------------------------------------------
    def external_tasks(self) -> list[str]:
        """The tasks of lm-eval itself or of eval.include_path (not the world's probes): rule prefetch_task loads each
        once through lm-eval, so that its datasets are in the datasets cache."""
        return [task for task in self.axes.tasks if not is_world_task(task)]

    def any_world_task(self) -> bool:
        """Whether some task is one of the world's probes (its eval jobs then read the replicate's world)."""
        return any(is_world_task(task) for task in self.axes.tasks)
