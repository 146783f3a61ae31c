"""Adapter of rule `plot_figures`: draws the planned figures from comparison JSONs (see iftforget.figures)."""

import argparse
import json
import multiprocessing
from functools import partial

from iftforget.figures import group as group_figures
from iftforget.figures import overview
from iftforget.analysis.tables import tidy_table


def figure_job(figure: dict, table) -> partial:
    """The drawing call of one planned figure (iftforget.analysis.plan.AnalysisPlan.figure_plan)."""
    kind, tasks, paths = figure["kind"], figure["tasks"], figure["paths"]
    if kind == "grid":
        return partial(overview.plot_residual_grid, table, tasks, paths)
    model, dataset, seed = figure["group"]
    group = (table, model, dataset, int(seed))
    if kind == "scores":
        return partial(group_figures.plot_scores, *group, tasks[0], paths)
    if kind == "decomposition":
        return partial(group_figures.plot_decomposition, *group, tasks[0], paths)
    if kind == "transitions":
        return partial(group_figures.plot_transitions, *group, tasks, paths)
    if kind == "pattern_probe":
        return partial(group_figures.plot_pattern_probe, *group, tasks, paths)
    raise ValueError(f"unknown kind of figure {kind!r}")


def draw(job: partial) -> list[str]:
    job()
    return list(job.args[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True, type=json.loads,
                        help="JSON list of {kind, group: [base_model, dataset, seed] or null, tasks, paths}")
    parser.add_argument("--processes", type=int, default=1, help="figures drawn in parallel")
    parser.add_argument("comparisons", nargs="+", help="comparison JSONs written by rule analyze")
    args = parser.parse_args()

    table = tidy_table(args.comparisons)
    jobs = [figure_job(figure, table) for figure in args.plan]
    if args.processes > 1 and len(jobs) > 1:
        # Forked workers inherit the imported libraries and the table, so a figure costs only its drawing.
        with multiprocessing.get_context("fork").Pool(min(args.processes, len(jobs))) as pool:
            written = pool.map(draw, jobs, chunksize=1)
    else:
        written = [draw(job) for job in jobs]
    print("\n".join(f"wrote {path}" for paths in written for path in paths))


if __name__ == "__main__":
    main()
