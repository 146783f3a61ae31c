"""Coverage of the pooled intervals on constructed studies with a known truth (iftforget.analysis.simulation): how
often the 95 % intervals of each step's drop, residual and residual share, and of the transition test's change of
that share, cover it, for the t-interval on replicate means that the
analysis uses and for the two-stage percentile bootstrap it used before (runs drawn with replacement, then one item
resample of each; reproduced here for the comparison). Also: how often the intervals at the simultaneous level
cover every step of a study at once.

    python benchmarks/stage_call_coverage.py [--studies 1000] [--replicates 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from iftforget.analysis.forgetting import AnalysisSettings, comparison_draws
from iftforget.analysis.intervals import Estimate, percentile_interval, simultaneous_level
from iftforget.analysis.pooled import pooled_estimator
from iftforget.analysis.simulation import BUDGET, StudyDesign, coverage, share_terms


def stage_keys(study) -> list:
    return [key for step in study[0].steps for key in (("drop", step, 0), ("residual", step, BUDGET))]


def replicate_t(settings: AnalysisSettings, level: float, design: StudyDesign):
    def intervals(study) -> dict:
        draws = [comparison_draws(run, settings) for run in study]
        estimator = pooled_estimator(draws, [run.key.replicate for run in study])
        estimates = {key: estimator.linear({key: 1.0}, level) for key in stage_keys(study)}
        return estimates | {key: estimator.ratios(terms, level) for key, terms in share_terms(design).items()}
    return intervals


def two_stage_bootstrap(settings: AnalysisSettings, level: float, design: StudyDesign):
    """The pooled intervals before: each resample draws runs with replacement, then one of each drawn run's item
    resamples, and the percentile interval of the resampled means."""
    def intervals(study) -> dict[tuple, Estimate]:
        draws = [comparison_draws(run, settings) for run in study]
        n_runs, n_resamples = len(draws), settings.bootstrap_resamples
        rng = np.random.default_rng([settings.seed, n_runs])
        run_pick = rng.integers(n_runs, size=(n_resamples, n_runs))
        item_pick = rng.integers(n_resamples, size=(n_resamples, n_runs))
        pooled = {}
        for key in stage_keys(study):
            points = np.array([run[key][0] for run in draws])
            boots = np.stack([run[key][1] for run in draws])
            pooled[key] = (points.mean(), boots[run_pick, item_pick].mean(axis=1))
        result = {key: percentile_interval(point, boot, level) for key, (point, boot) in pooled.items()}
        for key, terms in share_terms(design).items():
            point = sum(c * pooled[n][0] / pooled[d][0] for n, d, c in terms)
            with np.errstate(divide="ignore", invalid="ignore"):  # a resample without a drop: left out
                boot = sum(c * pooled[n][1] / pooled[d][1] for n, d, c in terms)
            result[key] = percentile_interval(point, boot, level)
        return result
    return intervals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--replicates", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    design = StudyDesign(n_replicates=args.replicates)
    full = AnalysisSettings(bootstrap_resamples=1000, confidence=0.95, seed=0, power=0.8)
    # The t-interval reads only the runs' point estimates: a few item resamples keep the simulation fast.
    light = AnalysisSettings(bootstrap_resamples=10, confidence=0.95, seed=0, power=0.8)
    joint = simultaneous_level(0.95, len(design.steps))
    methods = {
        "t-interval on replicate means, 95 %": replicate_t(light, 0.95, design),
        f"t-interval on replicate means, {joint:.4f} (simultaneous)": replicate_t(light, joint, design),
        "two-stage percentile bootstrap, 95 % (before)": two_stage_bootstrap(full, 0.95, design),
    }
    print(f"{args.studies} simulated studies of {design.n_replicates} replicates x {design.n_items} items, "
          f"{len(design.steps)} steps (iftforget.analysis.simulation.StudyDesign defaults)\n")
    columns = ["drop", "residual", "residual_share", "share_change", "drop, all steps", "residual, all steps"]
    print(f"| method | {' | '.join(columns)} | seconds |")
    print("| --- " * (len(columns) + 2) + "|")
    for name, intervals in methods.items():
        start = time.perf_counter()
        result = coverage(design, args.studies, args.seed, intervals)
        cells = " | ".join(f"{result[column]:.3f}" for column in columns)
        print(f"| {name} | {cells} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
