"""The pooled intervals cover the truth as often as they say, on constructed studies of 5 replicates with a known
mean drop and residual and a spread between replicates like the committed study's (iftforget.analysis.simulation).
benchmarks/stage_call_coverage.py prints the same coverage beside that of the earlier two-stage bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from iftforget.analysis.forgetting import AnalysisSettings, comparison_draws
from iftforget.analysis.intervals import simultaneous_level
from iftforget.analysis.pooled import pooled_estimator
from iftforget.analysis.simulation import BUDGET, StudyDesign, coverage, share_terms, simulate_study, true_means

pytestmark = pytest.mark.unit

# The t-interval reads only the replicates' point estimates: a few item resamples keep the simulation fast.
SETTINGS = AnalysisSettings(bootstrap_resamples=10, confidence=0.95, seed=0, power=0.8)
# Fewer studies than the benchmark's 1,000 (seconds of the suite); with a fixed seed the result is the same on every
# run, and one binomial standard error of 500 studies is 0.01.
STUDIES = 500


def pooled_intervals(level: float, design: StudyDesign = StudyDesign()):
    def intervals(study):
        draws = [comparison_draws(run, SETTINGS) for run in study]
        estimator = pooled_estimator(draws, [run.key.replicate for run in study])
        keys = [key for step in study[0].steps for key in (("drop", step, 0), ("residual", step, BUDGET))]
        estimates = {key: estimator.linear({key: 1.0}, level) for key in keys}
        return estimates | {key: estimator.ratios(terms, level) for key, terms in share_terms(design).items()}
    return intervals


def test_the_simulated_runs_have_the_designed_expected_drop_and_residual():
    """The construction itself: averaged over many replicates, the runs' drop and residual are the truth."""
    design = StudyDesign(n_replicates=400)
    study = simulate_study(design, np.random.default_rng(3))
    draws = [comparison_draws(run, SETTINGS) for run in study]
    for key, value in true_means(design).items():
        if key[0] in ("drop", "residual"):
            assert np.mean([run[key][0] for run in draws]) == pytest.approx(value, abs=0.012), key


def test_95_percent_intervals_of_five_replicates_cover_the_truth_in_93_to_97_percent_of_studies():
    """The drop, the residual, the residual share of the drop (a ratio of means, linearised) and the transition
    test's change of that share."""
    result = coverage(StudyDesign(), STUDIES, seed=11, intervals=pooled_intervals(0.95))
    for quantity in ("drop", "residual", "residual_share", "share_change"):
        assert 0.93 <= result[quantity] <= 0.97, (quantity, result)


def test_simultaneous_intervals_cover_every_step_of_a_study_at_once_in_at_least_95_percent():
    design = StudyDesign()
    level = simultaneous_level(0.95, len(design.steps))
    result = coverage(design, STUDIES, seed=12, intervals=pooled_intervals(level))
    # Bonferroni is conservative: at least the family's level, less one binomial standard error.
    assert result["drop, all steps"] >= 0.94 and result["residual, all steps"] >= 0.94, result
