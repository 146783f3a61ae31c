"""The study's committed results (figures/study/; the earlier-grid run in figures/study-early/; the 800-step
restorations of presets/study-long-restore.yaml, whose eval JSONs are in the study's cache, in
figures/study-long-restore/; the confirmatory study in figures/confirmatory/, its 800-step add-on, its restoration
arm and the arm at 800 steps, each with an archive of its own, in figures/confirmatory-long-restore/,
figures/confirmatory-fresh-arm/ and figures/confirmatory-fresh-arm-long/): a reader who clones the repository redraws
each run's tables, figures and report from the committed eval JSONs, with no model and no training or evaluation job,
and gets the tables that are committed (the README's headline is read from them). The figures and report are drawn
here for the fullest run of each family, whose kinds of figure include every other run's (checked below)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, job_counts, run_snakemake
from iftforget.analysis.plan import LIMIT_TABLE, AnalysisPlan
from iftforget.config import check_config, load_config_files
from iftforget.grid import Grid
from test_figures_from_cache import FROM_CACHE, UPSTREAM_RULES

pytestmark = pytest.mark.workflow

STUDY_CONFIG = [REPO / "config.yaml", REPO / "presets" / "study.yaml"]
# Each run: the folder of its committed tables, the archives of the eval JSONs it reads (an add-on run's beside the run
# it is layered on), and its config as the README's commands run it.
CONFIRMATORY = [REPO / "config.yaml", REPO / "presets" / "confirmatory.yaml"]
CONFIRMATORY_EVALS = REPO / "figures" / "confirmatory" / "evals.tar.xz"
CACHES = {
    "study": (REPO / "figures" / "study", [REPO / "figures" / "study" / "evals.tar.xz"], STUDY_CONFIG),
    "study-early": (REPO / "figures" / "study-early", [REPO / "figures" / "study-early" / "evals.tar.xz"],
                    [*STUDY_CONFIG, REPO / "presets" / "study-early.yaml"]),
    "study-long-restore": (REPO / "figures" / "study-long-restore", [REPO / "figures" / "study" / "evals.tar.xz"],
                           [*STUDY_CONFIG, REPO / "presets" / "study-long-restore.yaml"]),
    "confirmatory": (REPO / "figures" / "confirmatory", [CONFIRMATORY_EVALS], CONFIRMATORY),
    "confirmatory-long-restore": (
        REPO / "figures" / "confirmatory-long-restore",
        [CONFIRMATORY_EVALS, REPO / "figures" / "confirmatory-long-restore" / "evals.tar.xz"],
        [*CONFIRMATORY, REPO / "presets" / "confirmatory-long-restore.yaml"],
    ),
    "confirmatory-fresh-arm": (
        REPO / "figures" / "confirmatory-fresh-arm",
        [CONFIRMATORY_EVALS, REPO / "figures" / "confirmatory-fresh-arm" / "evals.tar.xz"],
        [*CONFIRMATORY, REPO / "presets" / "confirmatory-fresh-arm.yaml"],
    ),
    # The arm at the 800-step budget too: both add-ons layered, their archives and the arm's 800-step evals.
    "confirmatory-fresh-arm-long": (
        REPO / "figures" / "confirmatory-fresh-arm-long",
        [CONFIRMATORY_EVALS, *(REPO / "figures" / name / "evals.tar.xz" for name in (
            "confirmatory-long-restore", "confirmatory-fresh-arm", "confirmatory-fresh-arm-long"))],
        [*CONFIRMATORY, *(REPO / "presets" / f"{name}.yaml" for name in (
            "confirmatory-fresh-arm", "confirmatory-long-restore"))],
    ),
}


# A run whose every kind of figure another run of its family draws too (the add-on layered on it, from the same
# archive and more) is redrawn to its tables alone: its figures would be drawn by the same code from the same kind of
# rows, and drawing them all costs the suite minutes. The test below checks that each of its kinds is drawn there.
DRAWN_BY = {"study": "study-long-restore", "confirmatory": "confirmatory-fresh-arm-long",
            "confirmatory-long-restore": "confirmatory-fresh-arm-long",
            "confirmatory-fresh-arm": "confirmatory-fresh-arm-long"}


def study_plan(config_files: list[Path]) -> AnalysisPlan:
    config = load_config_files(config_files)
    check_config(config)
    return AnalysisPlan(Grid(config), config["analysis"])


@pytest.mark.parametrize("cache", list(CACHES))
def test_the_cache_holds_every_eval_the_run_reads(cache):
    _, archives, config_files = CACHES[cache]
    plan = study_plan(config_files)
    names = set()
    for evals in archives:
        with tarfile.open(evals) as archive:
            names |= {member.name for member in archive.getmembers() if member.isfile()}
    needed = {plan.files.eval_file(ref, task) for ref in plan.axes.models() for task in plan.axes.tasks}
    assert needed <= names, sorted(needed - names)[:5]
    assert all(name.startswith(plan.layout.root) for name in names), "nothing outside the results folder"


def figure_kinds(plan: AnalysisPlan) -> set[tuple]:
    """What a run draws, whatever the folder: each figure's kind, probes, corpora and IFT recipes; and whether it
    fits the residual's limit."""
    return {(figure["kind"], tuple(figure["tasks"]), tuple(figure.get("corpora") or ()),
             tuple(figure.get("ift_variants") or ())) for figure in plan.figure_plan()} | (
        {("residual limit",)} if plan.limit_figures() else set())


@pytest.mark.parametrize("cache", sorted(DRAWN_BY))
def test_a_run_redrawn_to_its_tables_alone_has_every_kind_of_figure_drawn_by_a_fuller_run(cache):
    fuller = DRAWN_BY[cache]
    assert fuller not in DRAWN_BY, "the fuller run draws its figures"
    missing = figure_kinds(study_plan(CACHES[cache][2])) - figure_kinds(study_plan(CACHES[fuller][2]))
    assert not missing, sorted(missing)[:5]


@pytest.mark.parametrize("cache", list(CACHES))
def test_the_run_is_redrawn_from_its_cache_to_the_committed_tables(tmp_path: Path, cache):
    folder, archives, config_files = CACHES[cache]
    for evals in archives:
        with tarfile.open(evals) as archive:
            archive.extractall(tmp_path, filter="data")
    plan = study_plan(config_files)
    # The residual's limit where the run restores a step at three or more budgets (the study and its 800-step add-on).
    tables = ["forgetting", "pooled"] + ([LIMIT_TABLE] if plan.limit_figures() else [])
    assert (folder / f"{LIMIT_TABLE}.csv").is_file() == bool(plan.limit_figures())
    # The README's command (the target first: `--configfile` takes every argument up to the next option), or, for a
    # run whose figures a fuller one draws, the same with its tables as targets.
    drawn = cache not in DRAWN_BY
    targets = ["figures"] if drawn else [plan.table_file(table, "csv") for table in tables]
    report = ["--report", str(tmp_path / "report.html"), "--report-after-run"] if drawn else []
    result = run_snakemake(*targets, *FROM_CACHE[1:], "--directory", str(tmp_path), "--configfile",
                           *map(str, config_files), *report, cwd=tmp_path, timeout=600)
    assert not set(job_counts(result.stdout)) & UPSTREAM_RULES, result.stdout[-3000:]
    assert not (tmp_path / plan.layout.root / "models").exists()

    expected = plan.targets() if drawn else targets
    missing = [path for path in expected if not (tmp_path / path).is_file()]
    assert missing == [] and (tmp_path / "report.html").is_file() == drawn, missing[:5]
    for table in tables:
        redrawn = pd.read_csv(tmp_path / plan.table_file(table, "csv"))
        committed = pd.read_csv(folder / f"{table}.csv")
        pd.testing.assert_frame_equal(redrawn, committed)
