"""Restoration arms (restore.arms): the grid restores each arm's datasets at the budgets the main corpus restores them
at, with the control at each of those budgets, on the arm's own corpus; the analysis reads and writes each arm's
comparisons beside the main corpus' (whose paths stay as they were); a grid without arms is the grid it was."""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import REPO
from iftforget.analysis.plan import AnalysisPlan
from iftforget.config import check_config, load_config_files
from iftforget.grid import Grid

pytestmark = pytest.mark.unit

DATASETS = [{"name": "qa-mix", "source": "world", "generic_fraction": 0.5},
            {"name": "format-only", "source": "world", "generic_fraction": 1.0}]
SWEEP = {"steps": 50, "sweep_budgets": [12, 200], "sweep_steps": [256], "sweep_datasets": ["qa-mix"],
         "extra_budgets": [{"budget": 800, "steps": [128]}]}
ARM = {"name": "fresh-bios", "source": "world-fresh", "datasets": ["qa-mix"]}


def grid_config(arms: list[dict], **restore) -> dict:
    config = {"replicates": [0, 1], "ift_datasets": DATASETS, "restore": SWEEP | restore | {"arms": arms}}
    check_config(config)
    return config


def grid(arms: list[dict], **restore) -> Grid:
    return Grid(grid_config(arms, **restore))


def restorations(grid: Grid, corpus: str) -> Counter:
    """(kind, dataset, step, budget) of every restored model and control on `corpus`, counted."""
    return Counter((ref.kind, ref.dataset, ref.step, ref.budget) for ref in grid.axes.models()
                   if ref.kind in ("restored", "control") and ref.corpus == corpus)


def test_an_arm_restores_its_datasets_at_the_main_corpus_budgets_and_the_control_at_each():
    arms = grid([ARM])
    steps = arms.axes.steps
    expected = Counter({("restored", "qa-mix", step, 50): 2 for step in steps})
    expected.update({("restored", "qa-mix", 256, 12): 2, ("restored", "qa-mix", 256, 200): 2,
                     ("restored", "qa-mix", 128, 800): 2})
    expected.update({("control", "", 0, budget): 2 for budget in (12, 50, 200, 800)})
    assert restorations(arms, "fresh-bios") == expected
    # The main corpus' models are those of the grid without the arm, in the same order.
    plain = grid([])
    assert [ref for ref in arms.axes.models() if ref.corpus != "fresh-bios"] == plain.axes.models()
    assert restorations(arms, "hold-bios") == restorations(plain, "hold-bios")
    assert arms.files.restore_data_file("fresh-bios", 1) == "results/world/rep1/restore-fresh-bios.jsonl"
    main = "results/world/rep1/restore.jsonl"
    assert arms.files.restore_data_file(None, 1) == plain.files.restore_data_file(None, 1) == main


def test_an_arm_of_every_dataset_restores_the_format_only_runs_at_their_own_budgets():
    arms = grid([ARM | {"datasets": []}])
    format_only = {key for key in restorations(arms, "fresh-bios") if key[1] == "format-only"}
    assert format_only == {("restored", "format-only", step, 50) for step in arms.axes.steps} | {
        ("restored", "format-only", 128, 800)}, "no sweep of the format-only runs on the arm either"


def test_the_analysis_of_an_arm_is_keyed_by_its_corpus_and_the_main_corpus_paths_stay():
    arms_config, plain_config = grid_config([ARM]), grid_config([])
    arms, plain = Grid(arms_config), Grid(plain_config)
    plan, plain_plan = AnalysisPlan(arms, arms_config["analysis"]), AnalysisPlan(plain, plain_config["analysis"])
    assert plan.arm_pools() == [(("world-llama", "qa-mix"), "fresh-bios")]
    assert plan.comparison_jsons()[: len(plain_plan.comparison_jsons())] == plain_plan.comparison_jsons()
    assert plan.pooled_jsons()[: len(plain_plan.pooled_jsons())] == plain_plan.pooled_jsons()
    added = plan.pooled_jsons()[len(plain_plan.pooled_jsons()):]
    assert added == [f"results/analysis/pooled/world-llama/qa-mix/fresh-bios/{task}.json" for task in arms.axes.tasks]
    pool = ("world-llama", "qa-mix")
    assert plan.analysis_plan(pool) == plain_plan.analysis_plan(pool), "the main analysis job is unchanged"
    entry = plan.analysis_plan(pool, "fresh-bios")[0]
    paths = [model["path"] for unit in entry["units"] for model in unit["models"]]
    corpora = {path.split("/")[-3] for path in paths if "/control/" in path or "/restored/" in path}
    assert entry["corpus"] == "fresh-bios" and corpora == {"fresh-bios"}
    kinds = {figure["kind"]: figure for figure in plan.figure_plan()}
    assert kinds["corpora"]["corpora"] == ["hold-bios", "fresh-bios"]
    assert not [f for f in plain_plan.figure_plan() if f["kind"] == "corpora"], "no arm, no figure of the arms"


def test_the_confirmatory_fresh_arm_preset_adds_the_arm_of_the_qa_mix_only():
    files = [REPO / "config.yaml", REPO / "presets" / "confirmatory.yaml"]
    confirmatory = load_config_files(files)
    layered = load_config_files([*files, REPO / "presets" / "confirmatory-fresh-arm.yaml"])
    check_config(confirmatory)
    check_config(layered)
    before, after = Grid(confirmatory), Grid(layered)
    assert [ref for ref in after.axes.models() if ref.corpus != "fresh-bios"] == before.axes.models()
    per_replicate = Counter({("restored", "qa-mix", step, 50): 1 for step in after.axes.steps})
    per_replicate.update({("restored", "qa-mix", 256, 12): 1, ("restored", "qa-mix", 256, 200): 1})
    per_replicate.update({("control", "", 0, budget): 1 for budget in (12, 50, 200)})
    replicates = len(after.axes.replicates)
    assert restorations(after, "fresh-bios") == Counter({key: replicates for key in per_replicate})
