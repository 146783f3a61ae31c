"""Adapter of rule `plot_figures`: draws the planned figures from the analysis JSONs (see iftforget.figures)."""

import argparse
import multiprocessing
from functools import partial

from iftforget.analysis.tables import POOLED_COLUMNS, UNIT_COLUMNS, tidy_table
from iftforget.figures import corpora as corpora_figures
from iftforget.figures import group as run_figures
from iftforget.figures import overview, pooled, scale, variants
from iftforget.io import json_argument
from iftforget.paths import DEFAULT_VARIANT

RUN_FIGURES = {"scores": run_figures.plot_scores, "decomposition": run_figures.plot_decomposition,
               "transitions": run_figures.plot_transitions, "pattern_probe": run_figures.plot_pattern_probe}
POOLED_FIGURES = {"pooled_scores": pooled.plot_pooled_scores, "residual_share": pooled.plot_residual_share,
                  "stage_counts": pooled.plot_stage_counts, "budget": pooled.plot_budget}


def figure_job(figure: dict, units, pooled_table) -> partial:
    """The drawing call of one planned figure (iftforget.analysis.figure_plan.FigurePlan.figure_plan), given the rows
    of its restoration corpora and IFT recipes."""
    kind, where, tasks, paths = figure["kind"], figure["where"], figure["tasks"], figure["paths"]
    if kind == "variants":
        return partial(variants.plot_variants, pooled_table, where, tasks, figure["ift_variants"], paths)
    if kind == "sizes":
        return partial(scale.plot_sizes, pooled_table, figure["dataset"], tasks[0], paths)
    if kind == "scale":
        recipes = figure.get("ift_variants", [DEFAULT_VARIANT])
        return partial(scale.plot_scale, pooled_table, figure["dataset"], tasks[0], recipes, paths)
    if kind == "corpora":
        return partial(corpora_figures.plot_corpora, pooled_table, where, tasks, paths)
    if kind == "grid":
        return partial(overview.plot_residual_grid, units, tasks, paths)
    if kind == "headline":
        return partial(pooled.plot_headline, pooled_table, units, where, tasks, paths)
    if kind == "contrast":
        return partial(overview.plot_contrast, pooled_table, figure["model"], tasks[0], paths)
    if kind in POOLED_FIGURES:
        return partial(POOLED_FIGURES[kind], pooled_table, units, where, tasks[0], paths)
    if kind in ("scores", "decomposition"):
        return partial(RUN_FIGURES[kind], units, where, tasks[0], paths)
    if kind in RUN_FIGURES:
        return partial(RUN_FIGURES[kind], units, where, tasks, paths)
    raise ValueError(f"unknown kind of figure {kind!r}")


def draw(job: partial) -> list[str]:
    job()
    return list(job.args[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True, type=json_argument,
                        help="JSON list of {kind, where, model, tasks, corpora, paths, ift_variants where not "
                        "the ift block's recipe alone, dataset where a figure of the grid shows one} "
                        "(AnalysisPlan.figure_plan); - for stdin")
    parser.add_argument("--processes", type=int, default=1, help="figures drawn in parallel")
    parser.add_argument("--units", required=True, nargs="+", help="comparison JSONs written by rule analyze")
    parser.add_argument("--pooled", required=True, nargs="+", help="pooled JSONs written by rule analyze")
    args = parser.parse_args()

    units = tidy_table(args.units, UNIT_COLUMNS)
    pooled_table = tidy_table(args.pooled, POOLED_COLUMNS)
    # Each figure sees the rows of its corpora and IFT recipes only: the main corpus' (every corpus' for the corpora's
    # figure) of the ift block's recipe (a variant's for its own figures, every recipe's for the recipes' figure).
    def rows(figure: dict) -> tuple:
        return tuple(figure["corpora"]), tuple(figure.get("ift_variants", [DEFAULT_VARIANT]))

    tables = {}
    for corpora, recipes in {rows(figure) for figure in args.plan}:
        tables[corpora, recipes] = tuple(table[table["corpus"].isin(corpora) & table["ift_variant"].isin(recipes)]
                                         for table in (units, pooled_table))
    jobs = [figure_job(figure, *tables[rows(figure)]) for figure in args.plan]
    if args.processes > 1 and len(jobs) > 1:
        # Forked workers inherit the imported libraries and the tables, so a figure costs only its drawing.
        with multiprocessing.get_context("fork").Pool(min(args.processes, len(jobs))) as pool:
            written = pool.map(draw, jobs, chunksize=1)
    else:
        written = [draw(job) for job in jobs]
    print("\n".join(f"wrote {path}" for paths in written for path in paths))


if __name__ == "__main__":
    main()
