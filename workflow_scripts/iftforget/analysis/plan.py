"""What the analysis reads and writes: the eval JSONs of each comparison, the comparison JSONs, the tidy table and
the figures, and the plans handed to its jobs.

Plain Python without heavy imports, like `iftforget.grid`: the Snakefile imports it to build the DAG. Every input
of the analysis is an eval JSON (or a file computed from eval JSONs), never a model directory, which is what lets
the figures be redrawn from cached evals.
"""

from __future__ import annotations

from typing import Any

from iftforget.grid import Grid

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
Group = tuple[str, str, int]  # (base model, dataset, seed)


class AnalysisPlan:
    """The analysis outputs of a grid; `analysis` is the config block of the same name."""

    def __init__(self, grid: Grid, analysis: dict[str, Any]) -> None:
        self.grid = grid
        self.layout = grid.layout
        self.probe_task_names = list(analysis["pattern_probe_tasks"])

    # --- what is analysed ----------------------------------------------------------------------------------------
    def probe_tasks(self) -> list[str]:
        """The perplexity probes of the text pattern (bits per byte), in the order of eval.tasks."""
        return [t for t in self.grid.tasks if t in self.probe_task_names]

    def knowledge_tasks(self) -> list[str]:
        return [t for t in self.grid.tasks if t not in self.probe_task_names]

    # --- paths ---------------------------------------------------------------------------------------------------
    def comparison_json(self, group: Group, task: str) -> str:
        model, dataset, seed = group
        return self.layout.path("comparison", model=model, dataset=dataset, seed=seed, task=task)

    def comparison_jsons(self) -> list[str]:
        return [self.comparison_json(group, task) for group in self.grid.groups() for task in self.grid.tasks]

    def table_file(self, ext: str) -> str:
        return self.layout.path("table", ext=ext)

    def figure_files(self, group: Group | None, name: str) -> list[str]:
        if group is None:
            return [self.layout.path("overview_figure", figure=name, ext=ext) for ext in FIGURE_FORMATS]
        model, dataset, seed = group
        return [self.layout.path("group_figure", model=model, dataset=dataset, seed=seed, figure=name, ext=ext)
                for ext in FIGURE_FORMATS]

    # --- figures -------------------------------------------------------------------------------------------------
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
        for group in self.grid.groups():
            for name, kind, task in self.group_figure_names():
                tasks = [task] if task else self.probe_tasks() if kind == "pattern_probe" else self.knowledge_tasks()
                paths = self.figure_files(group, name)
                plan.append({"kind": kind, "group": list(group), "tasks": tasks, "paths": paths})
        if len(self.grid.groups()) > 1 and self.knowledge_tasks():
            plan.append({"kind": "grid", "group": None, "tasks": self.knowledge_tasks(),
                         "paths": self.figure_files(None, "grid-residual")})
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

    def targets(self) -> list[str]:
        """The tidy table and every figure the config asks for."""
        return [self.table_file("csv"), self.table_file("html")] + [path for path, _, _, _ in self.figure_specs()]

    # --- inputs and plans of the jobs ----------------------------------------------------------------------------
    def comparison_models(self, group: Group, task: str) -> list[dict[str, Any]]:
        """The eval JSON of every model of one comparison, with its role (kind, step)."""
        return [{"kind": ref.kind, "step": ref.step, "path": self.grid.eval_file(ref, task)}
                for ref in self.grid.group_models(*group)]

    def group_eval_files(self, group: Group) -> list[str]:
        return [model["path"] for task in self.grid.tasks for model in self.comparison_models(group, task)]

    def analysis_plan(self, group: Group) -> list[dict[str, Any]]:
        """The plan of one group's analysis job: each comparison's key, eval files and output."""
        model, dataset, seed = group
        return [
            {
                "key": {"base_model": model, "dataset": dataset, "seed": int(seed), "task": task},
                "models": self.comparison_models(group, task),
                "output": self.comparison_json(group, task),
            }
            for task in self.grid.tasks
        ]
