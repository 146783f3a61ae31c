"""The figures of the analysis: which are drawn for a grid (of each pool and run, of each IFT recipe, of the whole
grid), from which rows (restoration corpora, IFT recipes), where their files lie, and how the report files them.

Plain Python without heavy imports, like `iftforget.analysis.plan`, whose AnalysisPlan it is a part of.
"""

from __future__ import annotations

from typing import Any

from iftforget.grid.axes import Group
from iftforget.paths import DEFAULT_VARIANT

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
    "variants": "14. Pooled: IFT recipes compared",
    "sizes": "15. Base models by size: drop and residual",
    "scale": "16. Base models by size: residual share and k*",
}
FIGURE_NAMES = {"transitions": "item paths", "pattern_probe": "pattern probe", "grid": "residual heatmap",
                "headline": "headline", "corpora": "restoration corpora", "variants": "IFT recipes",
                "sizes": "base models by size", "scale": "residual share and k* by size"}
Pool = tuple[str, str]  # (base model, dataset), as in iftforget.analysis.plan


class FigurePlan:
    """The figures of an AnalysisPlan (whose axes, layout, analysis block, tasks and pools it reads)."""

    def figure_files(self, where: Group | Pool | None, name: str, variant: str = DEFAULT_VARIANT) -> list[str]:
        """The files (one per format) of a figure of one run (a group), of a pool, or of the whole grid (None); of
        an IFT variant's run or pool, below the variant's name."""
        if where is None:
            return [self.layout.path("overview_figure", figure=name, ext=ext) for ext in FIGURE_FORMATS]
        prefix, names = ("", {}) if variant == DEFAULT_VARIANT else ("variant_", {"variant": variant})
        if len(where) == 2:
            return [self.layout.path(prefix + "pooled_figure", model=where[0], dataset=where[1], figure=name, ext=ext,
                                     **names) for ext in FIGURE_FORMATS]
        model, dataset, replicate, seed = where
        return [self.layout.path(prefix + "group_figure", model=model, dataset=dataset, replicate=replicate,
                                 seed=seed, figure=name, ext=ext, **names) for ext in FIGURE_FORMATS]

    # --- figures -------------------------------------------------------------------------------------------------
    def figure_plan(self) -> list[dict[str, Any]]:
        """Every figure: its kind, where it belongs (a run, a pool, or None), its tasks and files, and the IFT
        recipes whose rows it is drawn from (`ift_variants`, only where that is not the ift block's alone): the ift
        block's figures first, then each variant's pools and runs, and per pool with several recipes the figure
        that compares them."""
        plan: list[dict[str, Any]] = []
        knowledge, probes = self.knowledge_tasks(), self.probe_tasks()

        def add(kind: str, where, tasks: list[str], name: str, model: str | None = None,
                corpora: list[str] | None = None, variants: list[str] | None = None,
                dataset: str | None = None) -> None:
            """A figure drawn from the rows of `corpora` (the main corpus' unless given) and of `variants` (the ift
            block's recipe unless given; a figure of one variant lies below its name); a figure of the whole grid
            names its base model or its dataset where it shows one alone."""
            own = variants[0] if variants and len(variants) == 1 else DEFAULT_VARIANT
            plan.append({"kind": kind, "where": list(where) if where else None, "model": model, "tasks": tasks,
                         "corpora": corpora or [self.axes.corpus], "paths": self.figure_files(where, name, own)}
                        | ({"ift_variants": variants} if variants else {}) | ({"dataset": dataset} if dataset else {}))

        def pool_figures(pool: Pool, variants: list[str] | None = None) -> None:
            if knowledge and probes:
                add("headline", pool, [knowledge[0], probes[0]], "headline", variants=variants)
            if knowledge and len(self.pool_corpora(pool)) > 1:
                add("corpora", pool, [knowledge[0], *probes[:1]], "corpora", corpora=self.pool_corpora(pool),
                    variants=variants)
            for task in knowledge:
                add("pooled_scores", pool, [task], f"{task}-scores", variants=variants)
                add("residual_share", pool, [task], f"{task}-residual-share", variants=variants)
                add("stage_counts", pool, [task], f"{task}-stage-counts", variants=variants)
                if len(self.axes.dataset_budgets(pool[1])) > 1:
                    add("budget", pool, [task], f"{task}-budget", variants=variants)

        def run_figures(group: Group, variants: list[str] | None = None) -> None:
            for task in knowledge:
                add("scores", group, [task], f"{task}-scores", variants=variants)
                add("decomposition", group, [task], f"{task}-decomposition", variants=variants)
            if knowledge:
                add("transitions", group, knowledge, "item-paths", variants=variants)
            if probes:
                add("pattern_probe", group, probes, "pattern-probe", variants=variants)

        for pool in self.pools():
            pool_figures(pool)
        if len(self.axes.datasets) > 1:
            for model in self.axes.base_models:
                for task in knowledge:
                    add("contrast", None, [task], f"{model}-{task}-contrast", model=model)
        for group in self.axes.groups() if self.analysis["run_figures"] else []:
            run_figures(group)
        if len(self.axes.groups()) > 1 and knowledge:
            add("grid", None, knowledge, "grid-residual")
        if len(self.axes.base_models) > 1:
            for dataset in self.axes.datasets:
                # Every recipe that trains some base model on the dataset: a variant of one size is one point.
                recipes = list(dict.fromkeys(recipe for model in self.axes.base_models
                                             for recipe in self.pool_variants((model, dataset))))
                for task in knowledge:
                    add("sizes", None, [task], f"{dataset}-{task}-sizes", dataset=dataset)
                    add("scale", None, [task], f"{dataset}-{task}-scale", dataset=dataset,
                        variants=recipes if len(recipes) > 1 else None)
        for pool in self.pools():
            recipes = self.pool_variants(pool)
            for variant in recipes[1:]:
                pool_figures(pool, [variant])
                for group in self.pool_groups(pool) if self.analysis["run_figures"] else []:
                    run_figures(group, [variant])
            if len(recipes) > 1 and knowledge:
                add("variants", pool, [knowledge[0]], "ift-variants", variants=recipes)
        return plan

    def figure_specs(self) -> list[tuple[str, str, str | None, dict[str, str]]]:
        """(path, kind, report subcategory, report labels) of every figure file."""
        specs = []
        for figure in self.figure_plan():
            where = figure["where"]
            parts = None if where is None else [
                f"rep {part}" if index == 2 else f"seed {part}" if index == 3 else str(part)
                for index, part in enumerate(where)]
            variants = figure.get("ift_variants", [DEFAULT_VARIANT])
            if parts and len(variants) == 1 and variants[0] != DEFAULT_VARIANT:
                parts.insert(2, variants[0])  # a variant's figures beside the ift block's: base / dataset / variant
            subcategory = None if parts is None else " / ".join(parts)
            name = FIGURE_NAMES.get(figure["kind"], figure["tasks"][0])
            for path in figure["paths"]:
                labels = {"figure": name, "format": path.rsplit(".", 1)[1].upper()}
                specs.append((path, figure["kind"], subcategory, labels))
        return specs

