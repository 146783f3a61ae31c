"""The study's committed results (figures/study/): a reader who clones the repository redraws the study's tables,
figures and report from the committed eval JSONs, with no model and no training or evaluation job, and gets the
tables that are committed (the README's headline is read from them)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pandas as pd

from conftest import REPO, job_counts, run_snakemake
from iftforget.analysis.plan import AnalysisPlan
from iftforget.config import check_config, load_config_files
from iftforget.grid import Grid
from test_figures_from_cache import FROM_CACHE, UPSTREAM_RULES

STUDY = REPO / "figures" / "study"
# The config of the cached run: the study preset on the default config, as the README's command runs it.
CONFIG_FILES = [REPO / "config.yaml", REPO / "presets" / "study.yaml"]


def study_plan() -> AnalysisPlan:
    config = load_config_files(CONFIG_FILES)
    check_config(config)
    return AnalysisPlan(Grid(config), config["analysis"])


def test_the_cache_holds_every_eval_the_study_reads():
    plan = study_plan()
    with tarfile.open(STUDY / "evals.tar.xz") as archive:
        names = {member.name for member in archive.getmembers() if member.isfile()}
    needed = {plan.grid.eval_file(ref, task) for ref in plan.grid.models() for task in plan.grid.tasks}
    assert needed <= names, sorted(needed - names)[:5]
    assert all(name.startswith(plan.grid.layout.root) for name in names), "nothing outside the results folder"


def test_the_study_is_redrawn_from_its_cache_to_the_committed_tables(tmp_path: Path):
    with tarfile.open(STUDY / "evals.tar.xz") as archive:
        archive.extractall(tmp_path, filter="data")
    # The target first: `--configfile` takes every argument up to the next option.
    result = run_snakemake(*FROM_CACHE, "--directory", str(tmp_path), "--configfile", *map(str, CONFIG_FILES),
                           "--report", str(tmp_path / "report.html"), "--report-after-run", cwd=tmp_path,
                           timeout=600)
    assert not set(job_counts(result.stdout)) & UPSTREAM_RULES, result.stdout[-3000:]
    assert not (tmp_path / study_plan().grid.layout.root / "models").exists()

    plan = study_plan()
    missing = [path for path in plan.targets() if not (tmp_path / path).is_file()]
    assert missing == [] and (tmp_path / "report.html").is_file(), missing[:5]
    for table in ("forgetting", "pooled"):
        redrawn = pd.read_csv(tmp_path / plan.table_file(table, "csv"))
        committed = pd.read_csv(STUDY / f"{table}.csv")
        pd.testing.assert_frame_equal(redrawn, committed)
