"""The study's committed results (figures/study/; the earlier-grid run in figures/study-early/; the 800-step
restorations of presets/study-long-restore.yaml, whose eval JSONs are in the study's cache, in
figures/study-long-restore/; the confirmatory study in figures/confirmatory/, its 800-step add-on, its restoration
arm and the arm at 800 steps, each with an archive of its own, in figures/confirmatory-long-restore/,
figures/confirmatory-fresh-arm/ and figures/confirmatory-fresh-arm-long/): a reader who clones the repository redraws
each run's tables, figures and report from the committed eval JSONs, with no model and no training or evaluation job,
and gets the tables that are committed (the README's headline is read from them)."""

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


@pytest.mark.parametrize("cache", list(CACHES))
def test_the_run_is_redrawn_from_its_cache_to_the_committed_tables(tmp_path: Path, cache):
    folder, archives, config_files = CACHES[cache]
    for evals in archives:
        with tarfile.open(evals) as archive:
            archive.extractall(tmp_path, filter="data")
    # The target first: `--configfile` takes every argument up to the next option.
    result = run_snakemake(*FROM_CACHE, "--directory", str(tmp_path), "--configfile", *map(str, config_files),
                           "--report", str(tmp_path / "report.html"), "--report-after-run", cwd=tmp_path,
                           timeout=600)
    assert not set(job_counts(result.stdout)) & UPSTREAM_RULES, result.stdout[-3000:]
    plan = study_plan(config_files)
    assert not (tmp_path / plan.layout.root / "models").exists()

    missing = [path for path in plan.targets() if not (tmp_path / path).is_file()]
    assert missing == [] and (tmp_path / "report.html").is_file(), missing[:5]
    # The residual's limit where the run restores a step at three or more budgets (the study and its 800-step add-on).
    tables = ["forgetting", "pooled"] + ([LIMIT_TABLE] if plan.limit_figures() else [])
    assert (folder / f"{LIMIT_TABLE}.csv").is_file() == bool(plan.limit_figures())
    for table in tables:
        redrawn = pd.read_csv(tmp_path / plan.table_file(table, "csv"))
        committed = pd.read_csv(folder / f"{table}.csv")
        pd.testing.assert_frame_equal(redrawn, committed)
