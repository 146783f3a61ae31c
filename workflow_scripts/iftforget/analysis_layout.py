"""Where the analysis writes what: comparison JSONs, the tidy table and the figures, and the plans of its jobs.

Plain Python without heavy imports, like `iftforget.grid`: the Snakefile imports it to build the DAG. Every input
of the analysis is an eval JSON (or a file computed from eval JSONs), never a model directory, which is what lets
the figures be redrawn from cached evals.
"""

from __future__ import annotations

import json
from typing import Any

from iftforget.grid import Grid, ModelRef

FIGURE_FORMATS = ("pdf", "png")
# Report categories; the numbers order them in the report's menu.
FIGURE_CATEGORIES = {
    "scores": "1. Score against IFT step",
    "decomposition": "2. Drop: recovered vs residual",
    "transitions": "3. Item paths",
    "pattern_probe": "4. Text pattern probe",
    "grid": "5. Grid overview",
    "table": "6. Tables",
}
FIGURE_NAMES = {"transitions": "item paths", "pattern_probe": "pattern probe", "grid": "residual heatmap"}


class AnalysisLayout:
    """The analysis outputs of a grid; `analysis` is the config block of the same name."""

    def __init__(self, grid: Grid, analysis: dict[str, Any]) -> None:
        self.grid = grid
        self.root = grid.root
        self.probe_task_names = list(analysis["pattern_probe_tasks"])

    # --- what is analysed ----------------------------------------------------------------------------------------
    def probe_tasks(self) -> list[str]:
        """The perplexity probes of the text pattern (bits per byte), in the order of eval.tasks."""
        return [t for t in self.grid.tasks if t in self.probe_task_names]

    def knowledge_tasks(self) -> list[str]:
        return [t for t in self.grid.tasks if t not in self.probe_task_names]

    def groups(self) -> list[tuple[str, str, int]]:
        """(base model, dataset, seed) of every group of comparisons; a group has one comparison per task."""
        return [(m, d, s) for m in self.grid.base_models for d in self.grid.datasets for s in self.grid.seeds]

    def has_several_groups(self) -> bool:
        return len(self.groups()) > 1

    # --- paths ---------------------------------------------------------------------------------------------------
    def comparison_json(self, model: str, dataset: str, seed: int | str, task: str) -> str:
        return str(self.root / "analysis" / "comparisons" / model / dataset / f"seed{seed}" / f"{task}.json")

    def table_file(self, ext: str = "csv") -> str:
        return str(self.root / "analysis" / f"forgetting.{ext}")

    def group_figure(self, model: str, dataset: str, seed: int | str, name: str, ext: str) -> str:
        return str(self.root / "figures" / model / dataset / f"seed{seed}" / f"{name}.{ext}")

    def grid_figure(self, ext: str) -> str:
        return str(self.root / "figures" / f"grid-residual.{ext}")

    def group_figure_names(self) -> list[tuple[str, str, str | None]]:
        """(file name, kind, task or None) of every figure drawn for one group."""
        names: list[tuple[str, str, str | None]] = []
        names += [(f"{task}-scores", "scores", task) for task in self.knowledge_tasks()]
        names += [(f"{task}-decomposition", "decomposition", task) for task in self.knowledge_tasks()]
        if self.knowledge_tasks():
            names.append(("item-paths", "transitions", None))
        if self.probe_tasks():
            names.append(("pattern-probe", "pattern_probe", None))
        return names

    def figure_plan(self) -> list[dict[str, Any]]:
        """Every figure: its kind, comparison group (or None), tasks and files (one per format)."""
        plan: list[dict[str, Any]] = []
        for model, dataset, seed in self.groups():
            for name, kind, task in self.group_figure_names():
                tasks = [task] if task else self.probe_tasks() if kind == "pattern_probe" else self.knowledge_tasks()
                paths = [self.group_figure(model, dataset, seed, name, ext) for ext in FIGURE_FORMATS]
                plan.append({"kind": kind, "group": [model, dataset, seed], "tasks": tasks, "paths": paths})
        if self.has_several_groups() and self.knowledge_tasks():
            paths = [self.grid_figure(ext) for ext in FIGURE_FORMATS]
            plan.append({"kind": "grid", "group": None, "tasks": self.knowledge_tasks(), "paths": paths})
        return plan

    def figure_specs(self) -> list[tuple[str, str, str | None, dict[str, str]]]:
        """(path, kind, report subcategory, report labels) of every figure file."""
        specs = []
        for figure in self.figure_plan():
            group = figure["group"]
            subcategory = None if group is None else f"{group[0]} / {group[1]} / seed {group[2]}"
            single_task = figure["kind"] in ("scores", "decomposition")
            name = figure["tasks"][0] if single_task else FIGURE_NAMES[figure["kind"]]
            for path in figure["paths"]:
                labels = {"figure": name, "format": path.rsplit(".", 1)[1].upper()}
                specs.append((path, figure["kind"], subcategory, labels))
        return specs

    def comparison_jsons(self) -> list[str]:
        return [self.comparison_json(m, d, s, t) for m, d, s in self.groups() for t in self.grid.tasks]

    def targets(self) -> list[str]:
        """The tidy table and every figure the config asks for."""
        return [self.table_file("csv"), self.table_file("html")] + [path for path, _, _, _ in self.figure_specs()]

    # --- inputs and plans of the jobs ----------------------------------------------------------------------------
    def comparison_eval_files(self, model: str, dataset: str, seed: int | str, task: str) -> dict[str, str]:
        """Role ("base", "control", "ift@k", "restored@k") -> eval JSON of one comparison."""
        seed = int(seed)
        grid = self.grid
        files = {
            "base": grid.eval_file(ModelRef("base", model).path, task),
            "control": grid.eval_file(ModelRef("control", model, seed=seed, corpus=grid.corpus).path, task),
        }
        for step in grid.steps:
            files[f"ift@{step}"] = grid.eval_file(ModelRef("ift", model, dataset, seed, step).path, task)
            restored = ModelRef("restored", model, dataset, seed, step, grid.corpus)
            files[f"restored@{step}"] = grid.eval_file(restored.path, task)
        return files

    def group_eval_files(self, model: str, dataset: str, seed: int | str) -> list[str]:
        return [
            path for task in self.grid.tasks for path in self.comparison_eval_files(model, dataset, seed, task).values()
        ]

    def analysis_plan(self, model: str, dataset: str, seed: int | str) -> str:
        """The JSON plan of one group's analysis job: each comparison's key, eval files and output."""
        plan = [
            {
                "key": {"base_model": model, "dataset": dataset, "seed": int(seed), "task": task},
                "files": self.comparison_eval_files(model, dataset, seed, task),
                "output": self.comparison_json(model, dataset, seed, task),
            }
            for task in self.grid.tasks
        ]
        return json.dumps(plan, sort_keys=True)
