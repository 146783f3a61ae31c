"""What the analysis reads and writes: the eval JSONs of each comparison, the comparison and pooled JSONs, the tidy
tables and the figures (planned in `iftforget.analysis.figure_plan`), and the plans handed to its jobs.

Plain Python without heavy imports, like `iftforget.grid`: the Snakefile imports it to build the DAG. Every input
of the analysis is an eval JSON (or a file computed from eval JSONs), never a model directory, which is what lets
the figures be redrawn from cached evals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iftforget.analysis.figure_plan import FigurePlan
from iftforget.grid import Grid
from iftforget.grid.axes import Group
from iftforget.paths import DEFAULT_VARIANT

TABLES = ("forgetting", "pooled")  # per unit, and pooled over units
LIMIT_TABLE = "residual_limit"
CONTRAST_TABLE = "contrasts"  # base models against the smallest, IFT variants against the ift block's recipe
# A saturating curve of the residual against the budget has three parameters, so the residual's limit is fitted at a
# step restored at three or more budgets (iftforget.analysis.limit).
LIMIT_MIN_BUDGETS = 3
# (base model, dataset): the units pooled by one analysis job, on each restoration corpus that restores the dataset,
# for each IFT recipe that trains them (ift.variants: one job per recipe and corpus)
Pool = tuple[str, str]


class AnalysisPlan(FigurePlan):
    """The analysis outputs of a grid; `analysis` is the config block of the same name. Its figures are planned by
    `FigurePlan` (iftforget.analysis.figure_plan)."""

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

    def pool_variants(self, pool: Pool) -> list[str]:
        """The IFT recipes of a pool's runs: the ift block's (DEFAULT_VARIANT), then each variant that trains them."""
        return self.axes.recipes(*pool)

    def variant_analyses(self) -> list[tuple[Pool, str | None, str]]:
        """(pool, corpus, variant) of every analysis job of an IFT variant (rule analyze_variant, whose corpus is the
        main one: None, and analyze_variant_arm)."""
        return [(pool, None if corpus == self.axes.corpus else corpus, variant) for pool in self.pools()
                for variant in self.pool_variants(pool)[1:] for corpus in self.pool_corpora(pool)]

    def job_pool(self, wildcards: Mapping[str, str]) -> tuple[Pool, str | None, str]:
        """The pool of an analysis job, its restoration corpus and its IFT recipe, from its wildcards: an arm's
        (rules analyze_arm and analyze_variant_arm, whose paths name it) or the main one (whose paths have no corpus:
        None); a variant's (rules analyze_variant*, whose paths name it) or the ift block's."""
        corpus = wildcards["corpus"] if "corpus" in wildcards.keys() else None
        variant = wildcards["variant"] if "variant" in wildcards.keys() else DEFAULT_VARIANT
        return (wildcards["model"], wildcards["dataset"]), corpus, variant

    def _on(self, corpus: str | None, variant: str = DEFAULT_VARIANT) -> str:
        """The artifact prefix of the analysis files of a corpus and IFT recipe: the ift block's recipe on the main
        corpus' paths, an arm's one level deeper, a variant's one level deeper (and an arm's below it)."""
        return ("" if variant == DEFAULT_VARIANT else "variant_") + ("" if corpus in (None, self.axes.corpus)
                                                                     else "arm_")

    def _names(self, corpus: str | None, variant: str) -> dict[str, str]:
        """The wildcards of the corpus and IFT recipe that the analysis paths of `_on(corpus, variant)` hold."""
        prefix = self._on(corpus, variant)
        return ({"corpus": corpus} if "arm_" in prefix else {}) | ({"variant": variant} if "variant_" in prefix else {})

    # --- paths ---------------------------------------------------------------------------------------------------
    def comparison_json(self, group: Group, task: str, corpus: str | None = None,
                        variant: str = DEFAULT_VARIANT) -> str:
        """The JSON of one comparison on one corpus (the main one when None) with one IFT recipe; a pattern where the
        group holds wildcards, as in the rule's output."""
        model, dataset, replicate, seed = group
        return self.layout.pattern(self._on(corpus, variant) + "comparison", model=model, dataset=dataset,
                                   replicate=replicate, seed=seed, task=task, **self._names(corpus, variant))

    def pooled_json(self, pool: Pool, task: str, corpus: str | None = None, variant: str = DEFAULT_VARIANT) -> str:
        return self.layout.pattern(self._on(corpus, variant) + "pooled", model=pool[0], dataset=pool[1], task=task,
                                   **self._names(corpus, variant))

    def comparison_jsons(self) -> list[str]:
        """Every comparison JSON: the ift block's recipe on the main corpus first (its rows lead the tables), then
        on each arm, then each IFT variant's."""
        default = [self.comparison_json(group, task, corpus) for corpus in self.axes.corpora()
                   for group in self.axes.groups() if group[1] in self.axes.corpus_datasets(corpus)
                   for task in self.axes.tasks]
        return default + [self.comparison_json(group, task, corpus, variant)
                          for pool, corpus, variant in self.variant_analyses() for group in self.pool_groups(pool)
                          for task in self.axes.tasks]

    def pooled_jsons(self) -> list[str]:
        default = [self.pooled_json(pool, task, corpus) for corpus in self.axes.corpora() for pool in self.pools()
                   if pool[1] in self.axes.corpus_datasets(corpus) for task in self.axes.tasks]
        return default + [self.pooled_json(pool, task, corpus, variant)
                          for pool, corpus, variant in self.variant_analyses() for task in self.axes.tasks]

    def table_file(self, table: str, ext: str) -> str:
        return self.layout.path("table", table=table, ext=ext)

    def targets(self) -> list[str]:
        """The tidy tables and every figure the config asks for, the residual's limit where it is fitted and the
        paired contrasts where the grid has groups to contrast."""
        tables = [self.table_file(table, ext) for table in TABLES for ext in ("csv", "html")]
        limit = [self.table_file(LIMIT_TABLE, "csv")] if self.limit_figures() else []
        contrasts = [self.table_file(CONTRAST_TABLE, "csv")] if self.contrasts() else []
        return tables + [path for path, _, _, _ in self.figure_specs()] + limit + [
            path for figure in self.limit_figures() for path in figure["paths"]] + contrasts

    def contrasts(self) -> bool:
        """Whether the grid has groups to contrast on paired runs: several base models, or an IFT variant
        (iftforget.analysis.contrasts)."""
        return len(self.axes.base_models) > 1 or bool(self.axes.variants)

    # --- the residual's limit ------------------------------------------------------------------------------------
    def limit_step(self, dataset: str) -> int | None:
        """The last grid step of `dataset` restored at LIMIT_MIN_BUDGETS or more budgets (None if there is none)."""
        steps = [s for s in self.axes.steps if len(self.axes.step_budgets(s, dataset)) >= LIMIT_MIN_BUDGETS]
        return max(steps) if steps else None

    def limit_figures(self) -> list[dict[str, Any]]:
        """One figure per pool (and IFT recipe) with a step to fit: the residual against the budget at that step on
        the main restoration corpus, per knowledge probe (the table fits every such step, corpus and recipe; the
        figure shows the last step). A variant's figure names its recipe (`ift_variant`), the ift block's none."""
        figures = []
        for default in (True, False):  # the ift block's figures first, as they were before any variant
            for pool in self.pools():
                step = self.limit_step(pool[1])
                if step is None or not self.knowledge_tasks():
                    continue
                for variant in self.pool_variants(pool)[:1] if default else self.pool_variants(pool)[1:]:
                    figures.append({"base_model": pool[0], "dataset": pool[1], "corpus": self.axes.corpus,
                                    "cases": [[task, step] for task in self.knowledge_tasks()],
                                    "paths": self.figure_files(pool, "residual-limit", variant)}
                                   | ({"ift_variant": variant} if variant != DEFAULT_VARIANT else {}))
        return figures

    # --- inputs and plans of the jobs ----------------------------------------------------------------------------
    def unit_models(self, group: Group, task: str, corpus: str | None = None,
                    variant: str = DEFAULT_VARIANT) -> list[dict[str, Any]]:
        """The eval JSON of every model of one comparison on one corpus (all its budgets) with one IFT recipe, with
        its role (kind, step, budget)."""
        seen: dict[str, dict[str, Any]] = {}
        for budget in self.axes.budgets(corpus):
            for ref in self.axes.group_models(group, budget, corpus, variant):
                path = self.files.eval_file(ref, task)
                seen[path] = {"kind": ref.kind, "step": ref.step, "budget": ref.budget, "path": path}
        return list(seen.values())

    def pool_eval_files(self, pool: Pool, corpus: str | None = None, variant: str = DEFAULT_VARIANT) -> list[str]:
        return [model["path"] for group in self.pool_groups(pool) for task in self.axes.tasks
                for model in self.unit_models(group, task, corpus, variant)]

    def pool_outputs(self, pool: Pool, corpus: str | None = None, variant: str = DEFAULT_VARIANT) -> list[str]:
        """What one analysis job writes (of a pool on one corpus, the main one when None, with one IFT recipe):
        each unit's comparison JSON and the pooled JSON, per task."""
        outputs = []
        for task in self.axes.tasks:
            outputs += [self.comparison_json(group, task, corpus, variant) for group in self.pool_groups(pool)]
            outputs.append(self.pooled_json(pool, task, corpus, variant))
        return outputs

    def analysis_plan(self, pool: Pool, corpus: str | None = None,
                      variant: str = DEFAULT_VARIANT) -> list[dict[str, Any]]:
        """The plan of one analysis job (tables.analyze_task, per task) of a pool on one corpus (the main one when
        None) with one IFT recipe: units, their eval files and outputs. A variant's plan names its recipe
        (`ift_variant`); the ift block's names none, so that its jobs' params stay as they were."""
        corpus = corpus or self.axes.corpus
        recipe = {"ift_variant": variant} if variant != DEFAULT_VARIANT else {}
        return [
            {
                "base_model": pool[0], "dataset": pool[1], "corpus": corpus, "task": task, "budget": self.axes.budget,
                "margin": self.margin(task), "output": self.pooled_json(pool, task, corpus, variant),
                "units": [{"replicate": group[2], "seed": group[3],
                           "models": self.unit_models(group, task, corpus, variant),
                           "output": self.comparison_json(group, task, corpus, variant)}
                          for group in self.pool_groups(pool)],
            } | recipe
            for task in self.axes.tasks
        ]

    def arm_pools(self) -> list[tuple[Pool, str]]:
        """Each (pool, arm) that an analyze_arm job analyses: the pools whose dataset an arm restores."""
        return [(pool, corpus) for pool in self.pools() for corpus in self.pool_corpora(pool)[1:]]
