"""What the analysis reads and writes: the eval JSONs of each comparison, the comparison and pooled JSONs, the tidy
tables and the figures, and the plans handed to its jobs.

Plain Python without heavy imports, like `iftforget.grid`: the Snakefile imports it to build the DAG. Every input
of the analysis is an eval JSON (or a file computed from eval JSONs), never a model directory, which is what lets
the figures be redrawn from cached evals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iftforget.grid import Grid
from iftforget.grid.axes import Group

FIGURE_FORMATS = ("pdf", "png")
# Report categories; the numbers order them in the report's menu, which sorts names as text (hence two digits).
FIGURE_CATEGORIES = {
    "headline": "00. Headline: scores, residual share, text pattern",
    "pooled_scores": "01. Pooled over replicates: scores against IFT step",
    "residual_share": "02. Pooled: residual share of the drop",
    "stage_counts": "03. Pooled: stage of each step across replicates",
    "budget": "04. Pooled: residual against restoration budget",
    "corpora": "05. Pooled: restoration corpora compared",
    "contrast": "06. IFT datasets compared",
    "scores": "07. Each run: score against IFT step",
    "decomposition": "08. Each run: drop, recovered vs residual",
    "transitions": "09. Each run: item paths",
    "pattern_probe": "10. Each run: text pattern probe",
    "grid": "11. Residual of every run",
    "table": "12. Tables",
    "limit": "13. Pooled: the residual's limit under restoration",
}
FIGURE_NAMES = {"transitions": "item paths", "pattern_probe": "pattern probe", "grid": "residual heatmap",
                "headline": "headline", "corpora": "restoration corpora"}
TABLES = ("forgetting", "pooled")  # per unit, and pooled over units
LIMIT_TABLE = "residual_limit"
# A saturating curve of the residual against the budget has three parameters, so the residual's limit is fitted at a
# step restored at three or more budgets (iftforget.analysis.limit).
LIMIT_MIN_BUDGETS = 3
# (base model, dataset): the units pooled by one analysis job, on each restoration corpus that restores the dataset
Pool = tuple[str, str]


class AnalysisPlan:
    """The analysis outputs of a grid; `analysis` is the config block of the same name."""

    def __init__(self, grid: Grid, analysis: dict[str, Any]) -> None:
        self.axes = grid.axes
        self.files = grid.files
        self.layout = grid.layout
        self.analysis = analysis

    # --- what is analysed ----------------------------------------------------------------------------------------
    def probe_tasks(self) -> list[str]:
        """The perplexity probes of the text pattern (bits per byte), in the order of eval.tasks."""
        return [t for t in self.axes.tasks if t in self.analysis["pattern_probe_tasks"]]

    def knowledge_tasks(self) -> list[str]:
        return [t for t in self.axes.tasks if t not in self.analysis["pattern_probe_tasks"]]

    def margin(self, task: str) -> float | None:
        """delta of a task; None for a pattern probe (no stage is called)."""
        if task in self.analysis["pattern_probe_tasks"]:
            return None
        margins = self.analysis["equivalence_margin"]
        return float(margins.get(task, margins["default"]))

    def pools(self) -> list[Pool]:
        return [(m, d) for m in self.axes.base_models for d in self.axes.datasets]

    def pool_groups(self, pool: Pool) -> list[Group]:
        return [(pool[0], pool[1], replicate, seed) for replicate, seed in self.axes.units()]

    def pool_corpora(self, pool: Pool) -> list[str]:
        """The restoration corpora of a pool's runs: the main corpus, then each arm that restores its dataset."""
        return self.axes.dataset_corpora(pool[1])

    def job_pool(self, wildcards: Mapping[str, str]) -> tuple[Pool, str | None]:
        """The pool of an analysis job and its restoration corpus, from its wildcards: an arm's (rule analyze_arm,
        whose paths name it) or the main one (rule analyze, whose paths have no corpus: None)."""
        corpus = wildcards["corpus"] if "corpus" in wildcards.keys() else None
        return (wildcards["model"], wildcards["dataset"]), corpus

    def _on(self, corpus: str | None) -> str:
        """The artifact prefix of a corpus' analysis files: the main corpus' paths, or an arm's (one level deeper)."""
        return "" if corpus in (None, self.axes.corpus) else "arm_"

    # --- paths ---------------------------------------------------------------------------------------------------
    def comparison_json(self, group: Group, task: str, corpus: str | None = None) -> str:
        """The JSON of one comparison on one corpus (the main one when None); a pattern where the group holds
        wildcards, as in the rule's output."""
        model, dataset, replicate, seed = group
        arm = {"corpus": corpus} if self._on(corpus) else {}
        return self.layout.pattern(self._on(corpus) + "comparison", model=model, dataset=dataset,
                                   replicate=replicate, seed=seed, task=task, **arm)

    def pooled_json(self, pool: Pool, task: str, corpus: str | None = None) -> str:
        arm = {"corpus": corpus} if self._on(corpus) else {}
        return self.layout.pattern(self._on(corpus) + "pooled", model=pool[0], dataset=pool[1], task=task, **arm)

    def comparison_jsons(self) -> list[str]:
        """Every comparison JSON: the main corpus' first (its rows lead the tables), then each arm's."""
        return [self.comparison_json(group, task, corpus) for corpus in self.axes.corpora()
                for group in self.axes.groups() if group[1] in self.axes.corpus_datasets(corpus)
                for task in self.axes.tasks]

    def pooled_jsons(self) -> list[str]:
        return [self.pooled_json(pool, task, corpus) for corpus in self.axes.corpora() for pool in self.pools()
                if pool[1] in self.axes.corpus_datasets(corpus) for task in self.axes.tasks]

    def table_file(self, table: str, ext: str) -> str:
        return self.layout.path("table", table=table, ext=ext)

    def figure_files(self, where: Group | Pool | None, name: str) -> list[str]:
        """The files (one per format) of a figure of one run (a group), of a pool, or of the whole grid (None)."""
        if where is None:
            return [self.layout.path("overview_figure", figure=name, ext=ext) for ext in FIGURE_FORMATS]
        if len(where) == 2:
            return [self.layout.path("pooled_figure", model=where[0], dataset=where[1], figure=name, ext=ext)
                    for ext in FIGURE_FORMATS]
        model, dataset, replicate, seed = where
        return [self.layout.path("group_figure", model=model, dataset=dataset, replicate=replicate, seed=seed,
                                 figure=name, ext=ext) for ext in FIGURE_FORMATS]

    # --- figures -------------------------------------------------------------------------------------------------
    def figure_plan(self) -> list[dict[str, Any]]:
        """Every figure: its kind, where it belongs (a run, a pool, or None), its tasks and files."""
        plan: list[dict[str, Any]] = []
        knowledge, probes = self.knowledge_tasks(), self.probe_tasks()

        def add(kind: str, where, tasks: list[str], name: str, model: str | None = None,
                corpora: list[str] | None = None) -> None:
            """A figure drawn from the rows of `corpora` (the main corpus' unless given)."""
            plan.append({"kind": kind, "where": list(where) if where else None, "model": model, "tasks": tasks,
                         "corpora": corpora or [self.axes.corpus], "paths": self.figure_files(where, name)})

        for pool in self.pools():
            if knowledge and probes:
                add("headline", pool, [knowledge[0], probes[0]], "headline")
            if knowledge and len(self.pool_corpora(pool)) > 1:
                add("corpora", pool, [knowledge[0], *probes[:1]], "corpora", corpora=self.pool_corpora(pool))
            for task in knowledge:
                add("pooled_scores", pool, [task], f"{task}-scores")
                add("residual_share", pool, [task], f"{task}-residual-share")
                add("stage_counts", pool, [task], f"{task}-stage-counts")
                if len(self.axes.dataset_budgets(pool[1])) > 1:
                    add("budget", pool, [task], f"{task}-budget")
        if len(self.axes.datasets) > 1:
            for model in self.axes.base_models:
                for task in knowledge:
                    add("contrast", None, [task], f"{model}-{task}-contrast", model=model)
        for group in self.axes.groups() if self.analysis["run_figures"] else []:
            for task in knowledge:
                add("scores", group, [task], f"{task}-scores")
                add("decomposition", group, [task], f"{task}-decomposition")
            if knowledge:
                add("transitions", group, knowledge, "item-paths")
            if probes:
                add("pattern_probe", group, probes, "pattern-probe")
        if len(self.axes.groups()) > 1 and knowledge:
            add("grid", None, knowledge, "grid-residual")
        return plan

    def figure_specs(self) -> list[tuple[str, str, str | None, dict[str, str]]]:
        """(path, kind, report subcategory, report labels) of every figure file."""
        specs = []
        for figure in self.figure_plan():
            where = figure["where"]
            subcategory = None if where is None else " / ".join(
                f"rep {part}" if index == 2 else f"seed {part}" if index == 3 else str(part)
                for index, part in enumerate(where))
            name = FIGURE_NAMES.get(figure["kind"], figure["tasks"][0])
            for path in figure["paths"]:
                labels = {"figure": name, "format": path.rsplit(".", 1)[1].upper()}
                specs.append((path, figure["kind"], subcategory, labels))
        return specs

    def targets(self) -> list[str]:
        """The tidy tables and every figure the config asks for, and the residual's limit where it is fitted."""
        tables = [self.table_file(table, ext) for table in TABLES for ext in ("csv", "html")]
        limit = [self.table_file(LIMIT_TABLE, "csv")] if self.limit_figures() else []
        return tables + [path for path, _, _, _ in self.figure_specs()] + limit + [
            path for figure in self.limit_figures() for path in figure["paths"]]

    # --- the residual's limit ------------------------------------------------------------------------------------
    def limit_step(self, dataset: str) -> int | None:
        """The last grid step of `dataset` restored at LIMIT_MIN_BUDGETS or more budgets (None if there is none)."""
        steps = [s for s in self.axes.steps if len(self.axes.step_budgets(s, dataset)) >= LIMIT_MIN_BUDGETS]
        return max(steps) if steps else None

    def limit_figures(self) -> list[dict[str, Any]]:
        """One figure per pool with a step to fit: the residual against the budget at that step on the main
        restoration corpus, per knowledge probe (the table fits every such step and corpus; the figure shows the
        last step)."""
        figures = []
        for pool in self.pools():
            step = self.limit_step(pool[1])
            if step is not None and self.knowledge_tasks():
                figures.append({"base_model": pool[0], "dataset": pool[1], "corpus": self.axes.corpus,
                                "cases": [[task, step] for task in self.knowledge_tasks()],
                                "paths": self.figure_files(pool, "residual-limit")})
        return figures

    # --- inputs and plans of the jobs ----------------------------------------------------------------------------
    def unit_models(self, group: Group, task: str, corpus: str | None = None) -> list[dict[str, Any]]:
        """The eval JSON of every model of one comparison on one corpus (all its budgets), with its role (kind,
        step, budget)."""
        seen: dict[str, dict[str, Any]] = {}
        for budget in self.axes.budgets(corpus):
            for ref in self.axes.group_models(group, budget, corpus):
                path = self.files.eval_file(ref, task)
                seen[path] = {"kind": ref.kind, "step": ref.step, "budget": ref.budget, "path": path}
        return list(seen.values())

    def pool_eval_files(self, pool: Pool, corpus: str | None = None) -> list[str]:
        return [model["path"] for group in self.pool_groups(pool) for task in self.axes.tasks
                for model in self.unit_models(group, task, corpus)]

    def pool_outputs(self, pool: Pool, corpus: str | None = None) -> list[str]:
        """What one analysis job writes (of a pool on one corpus, the main one when None): each unit's comparison
        JSON and the pooled JSON, per task."""
        outputs = []
        for task in self.axes.tasks:
            outputs += [self.comparison_json(group, task, corpus) for group in self.pool_groups(pool)]
            outputs.append(self.pooled_json(pool, task, corpus))
        return outputs

    def analysis_plan(self, pool: Pool, corpus: str | None = None) -> list[dict[str, Any]]:
        """The plan of one analysis job (tables.analyze_task, per task) of a pool on one corpus (the main one when
        None): units, their eval files and outputs."""
        corpus = corpus or self.axes.corpus
        return [
            {
                "base_model": pool[0], "dataset": pool[1], "corpus": corpus, "task": task, "budget": self.axes.budget,
                "margin": self.margin(task), "output": self.pooled_json(pool, task, corpus),
                "units": [{"replicate": group[2], "seed": group[3], "models": self.unit_models(group, task, corpus),
                           "output": self.comparison_json(group, task, corpus)} for group in self.pool_groups(pool)],
            }
            for task in self.axes.tasks
        ]

    def arm_pools(self) -> list[tuple[Pool, str]]:
        """Each (pool, arm) that an analyze_arm job analyses: the pools whose dataset an arm restores."""
        return [(pool, corpus) for pool in self.pools() for corpus in self.pool_corpora(pool)[1:]]
