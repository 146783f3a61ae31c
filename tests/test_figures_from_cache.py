"""Figures from cached results: with no model directory at all and only the eval JSONs, the documented command
redraws every figure and the report without scheduling any training or evaluation job (its speed is measured by
benchmarks/figures_from_cache.py, not here)."""

from __future__ import annotations

import json
import re
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, job_counts, run_snakemake
from iftforget.analysis.plan import AnalysisPlan
from iftforget.config import check_config
from iftforget.figures.scale import scale_points, size_label
from iftforget.grid import Grid
from iftforget.paths import ModelRef

pytestmark = pytest.mark.workflow

ANALYSIS_RULES = ["analyze", "analyze_arm", "analyze_variant", "analyze_variant_arm", "forgetting_table",
                  "plot_figures", "residual_limit", "contrast_table", "figures"]
# The README's figures-from-cache command, less the report path (added per test); a grid without IFT variants has no
# analyze_variant rules, whose names Snakemake then ignores.
FROM_CACHE = ["figures", "--cores", "all", "--allowed-rules", *ANALYSIS_RULES]
UPSTREAM_RULES = {"world", "tokenizer", "world_ift_data", "pretrain", "ift", "restore", "restore_control", "eval",
                  "summarize"}
OUTPUT_TYPES = {
    "world_completion": ("generate_until", "exact_match"),
    "world_chat": ("generate_until", "exact_match"),
    "world_mc_completion": ("multiple_choice", "acc"),
    "world_mc_chat": ("multiple_choice", "acc"),
    "world_ppl_pretrain": ("loglikelihood_rolling", "bits_per_byte"),
    "world_ppl_chat": ("loglikelihood", "bits_per_byte"),
}
N_ITEMS = 120
MC_CHOICES = 10
ARM = "fresh-bios"  # a restoration arm whose restored models keep more items lost than the main corpus' (below)
SMALL = "llama-small"  # a base model whose restored models keep more items lost than any other's (below)


def run_in(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The workflow on `workdir`, with the config written there by `cached_results`."""
    return run_snakemake("--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--nolock", *args,
                         cwd=workdir, check=check, timeout=600)


def rule_inputs(rulegraph: str) -> dict[str, set[str]]:
    """The rules each rule reads from, from the dot text of `snakemake --rulegraph`."""
    labels = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', rulegraph, re.MULTILINE))
    inputs = {label: set() for label in labels.values()}
    for source, target in re.findall(r"^\s*(\d+) -> (\d+)", rulegraph, re.MULTILINE):
        inputs[labels[target]].add(labels[source])
    return inputs


def item_values(ref: ModelRef, task: str, steps: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-item scores of a synthetic model: IFT breaks known items, restoration brings them back until k = steps[2],
    after which a growing share stays lost (less with a larger restoration budget), so the figures show both stages;
    the probes drift with k. Each replicate has its own items."""
    rng = np.random.default_rng([zlib.crc32(task.encode()), ref.replicate, ref.seed or 0])
    position = steps.index(ref.step) + 1 if ref.step in steps else 0
    if task.startswith("world_ppl"):
        lengths = rng.integers(60, 160, size=N_ITEMS)
        base = rng.normal(2.6 if "chat" in task else 2.2, 0.15, size=N_ITEMS)
        toward_chat = {"base": 0.0, "control": 0.0, "ift": 0.1 * position, "restored": 0.03 * position}[ref.kind]
        return base + (-toward_chat if "chat" in task else toward_chat), lengths
    base = (rng.random(N_ITEMS) < 0.6).astype(float)
    known = np.flatnonzero(base == 1)
    budget_factor = 200 / ref.budget if ref.budget else 1.0
    lost_share = {"base": 0.0, "control": 0.0, "ift": min(0.2 * position, 0.9),
                  "restored": min(0.9, max(0.0, 0.12 * (position - 2)) * budget_factor ** 0.3)}[ref.kind]
    if ref.kind == "restored" and (ref.corpus == ARM or ref.base_model == SMALL):
        lost_share = min(0.9, lost_share + 0.25)
    values = base.copy()
    values[known[: int(lost_share * len(known))]] = 0
    return values, None


def write_eval(path: Path, ref: ModelRef, task: str, steps: list[int], parameters: int | None = None) -> None:
    output_type, metric = OUTPUT_TYPES[task]
    values, lengths = item_values(ref, task, steps)
    items = []
    for index, value in enumerate(values):
        item = {"doc_id": index, "id": f"{task}-{index}", "target": "x", metric: float(value)}
        if output_type == "multiple_choice":
            item["loglikelihoods"] = [-1.0] * MC_CHOICES
        if output_type == "loglikelihood":
            item["loglikelihoods"] = [-1.0]
        if lengths is not None:
            item[f"{metric}_length"] = int(lengths[index])
            item["loglikelihood"] = float(-value * lengths[index] * np.log(2))
        items.append(item)
    score = float(np.average(values, weights=lengths))
    payload = {
        "format_version": 1, "task": task, "output_type": output_type,
        "model": {"path": ref.path, **ref.info(), "num_parameters": parameters},
        "primary_metric": metric, "score": score, "metrics": {metric: score}, "n_items": len(items), "items": items,
        "harness": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def cached_results(workdir: Path, parameters: dict[str, int] | None = None, **overrides) -> AnalysisPlan:
    """A working directory holding only the config and the eval JSONs of its whole grid (no model, no world); each
    eval JSON records its base model's parameter count from `parameters` (none where it names none)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text()) | overrides
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    check_config(config)
    grid = Grid(config)
    for ref in grid.axes.models():
        for task in grid.axes.tasks:
            write_eval(workdir / grid.files.eval_file(ref, task), ref, task, grid.axes.steps,
                       (parameters or {}).get(ref.base_model))
    return AnalysisPlan(grid, config["analysis"])


def test_figures_from_cached_evals_schedule_no_training_or_evaluation(tmp_path):
    layout = cached_results(tmp_path)
    assert not (tmp_path / "results" / "models").exists()

    # An input of the evals newer than them (here a probe file of the world): without the flags Snakemake would
    # re-evaluate, and so rebuild every model whose directory is gone. The check below can fail.
    probe = tmp_path / layout.files.world_file("mc_completion", 0)
    probe.parent.mkdir(parents=True)
    probe.write_text("{}\n")
    plain = job_counts(run_in(tmp_path, "figures", "-n", "--cores", "2").stdout)
    assert {"eval", "restore", "ift", "pretrain"} <= set(plain), plain

    from_cache = job_counts(run_in(tmp_path, *FROM_CACHE, "-n").stdout)
    assert not set(from_cache) & UPSTREAM_RULES, from_cache
    assert from_cache == {"analyze": 1, "forgetting_table": 1, "plot_figures": 1, "figures": 1}

    report = tmp_path / "report.html"
    result = run_in(tmp_path, *FROM_CACHE, "--report", str(report), "--report-after-run")
    # The onsuccess hook found the scheduler's timers (Snakemake would otherwise wait for them before exiting).
    assert re.search(r"Scheduler timers cancelled at the end of the run: [1-9]", result.stderr), result.stderr[-2000:]
    missing = [path for path in layout.targets() if not (tmp_path / path).is_file()]
    assert not missing
    assert report.is_file() and report.stat().st_size > 100_000
    assert not (tmp_path / "results" / "models").exists()


def test_replicates_datasets_and_a_budget_sweep_add_the_pooled_figures(tmp_path):
    """A grid with two replicates, two seeds, two IFT datasets (one format-only), a restoration-budget sweep of the
    QA mix only and a longer budget at the last step of both: one analysis job per (base model, dataset) pools its
    four runs, every pooled figure is drawn, and each step's budget verdict compares that step's two largest budgets
    of its own dataset. Without the eight runs' own figures (analysis.run_figures, as in presets/study.yaml): the
    test above draws those."""
    datasets = [{"name": "qa-mix", "source": "world", "generic_fraction": 0.5},
                {"name": "format-only", "source": "world", "generic_fraction": 1.0}]
    layout = cached_results(tmp_path, replicates=[0, 1], seeds=[0, 1], ift_datasets=datasets,
                            restore={"steps": 50, "sweep_budgets": [12, 200], "sweep_steps": [8, 256],
                                     "sweep_datasets": ["qa-mix"], "extra_budgets": [{"budget": 800, "steps": [256]}]},
                            analysis=yaml.safe_load((REPO / "config.yaml").read_text()).get("analysis", {})
                            | {"run_figures": False})
    assert job_counts(run_in(tmp_path, *FROM_CACHE, "-n").stdout) == {
        "analyze": 2, "forgetting_table": 1, "plot_figures": 1, "residual_limit": 1, "figures": 1,
    }
    # The tables, the residual's limit and the figures each read the analysis JSONs alone, so they are drawn side by
    # side (the figures claim one core): no one of them waits for another.
    upstream = rule_inputs(run_in(tmp_path, *FROM_CACHE, "--rulegraph").stdout)
    assert {rule: upstream[rule] for rule in ("forgetting_table", "residual_limit", "plot_figures")} == {
        "forgetting_table": {"analyze"}, "residual_limit": {"analyze"}, "plot_figures": {"analyze"}}
    run_in(tmp_path, *FROM_CACHE)
    kinds = {figure["kind"] for figure in layout.figure_plan()}
    assert {"headline", "pooled_scores", "residual_share", "stage_counts", "budget", "contrast", "grid"} <= kinds
    assert not kinds & {"scores", "decomposition", "transitions", "pattern_probe"}, "no run's own figure"
    assert not [path for path in layout.targets() if not (tmp_path / path).is_file()]
    pooled = json.loads((tmp_path / layout.pooled_json(("world-llama", "qa-mix"), "world_completion")).read_text())
    assert len(pooled["units"]) == 4 and set(pooled["budget_status"]) == {"8", "256"}
    table = pd.read_csv(tmp_path / "results" / "analysis" / "pooled.csv")
    completion = table[table.task == "world_completion"]

    def shrink_budgets(dataset: str) -> dict[int, int]:
        shrink = completion[(completion.quantity == "residual_shrink") & (completion.dataset == dataset)]
        return dict(zip(shrink.step, shrink.budget, strict=True))

    def residual_budgets(dataset: str) -> dict[int, set[int]]:
        rows = completion[(completion.quantity == "residual") & (completion.dataset == dataset)]
        return rows.groupby("step").budget.apply(set).to_dict()

    assert shrink_budgets("qa-mix") == {8: 200, 256: 800}
    qa_mix = residual_budgets("qa-mix")
    assert qa_mix[8] == {12, 50, 200} and qa_mix[256] == {12, 50, 200, 800}
    assert qa_mix[layout.axes.steps[1]] == {50}
    # The format-only runs are not swept: the main budget everywhere, the extra budget at the last step.
    assert shrink_budgets("format-only") == {256: 800}
    format_only = residual_budgets("format-only")
    assert format_only[8] == {50} and format_only[256] == {50, 800}


def test_a_corrupt_cached_eval_fails_with_its_name_and_draws_nothing(tmp_path):
    layout = cached_results(tmp_path)
    segment = layout.axes.ift("world-llama", "qa-mix", 0, 0, layout.axes.steps[1])
    broken = tmp_path / layout.files.eval_file(segment, "world_mc_completion")
    broken.write_text(broken.read_text()[:500])
    result = run_in(tmp_path, *FROM_CACHE, check=False)
    assert result.returncode != 0
    assert re.search(r"Scheduler timers cancelled at the end of the run: [1-9]", result.stderr), "the onerror hook"
    log = (tmp_path / "results" / "logs" / "analyze" / "world-llama" / "qa-mix.log").read_text()
    assert str(broken.relative_to(tmp_path)) in log and "corrupt" in log
    assert not (tmp_path / "results" / "figures").exists()
    assert not (tmp_path / "results" / "analysis" / "forgetting.csv").exists()
    assert not (tmp_path / "results" / "analysis" / "pooled.csv").exists()


def test_a_restoration_arm_is_analysed_beside_the_main_corpus_in_rows_that_name_their_corpus(tmp_path):
    """A grid with a restoration arm of the QA mix (restore.arms): one more analysis job (analyze_arm) reads the
    arm's own restorations and controls at the QA mix's budgets, every row of both tables names its corpus (the main
    corpus' first), and the pooled figure comparing the corpora is drawn for the QA mix only."""
    datasets = [{"name": "qa-mix", "source": "world", "generic_fraction": 0.5},
                {"name": "format-only", "source": "world", "generic_fraction": 1.0}]
    restore = {"steps": 50, "sweep_budgets": [200], "sweep_steps": [256], "sweep_datasets": ["qa-mix"],
               "arms": [{"name": ARM, "source": "world-fresh", "datasets": ["qa-mix"]}]}
    analysis = yaml.safe_load((REPO / "config.yaml").read_text()).get("analysis", {}) | {"run_figures": False}
    layout = cached_results(tmp_path, replicates=[0, 1], ift_datasets=datasets, restore=restore, analysis=analysis)
    assert job_counts(run_in(tmp_path, *FROM_CACHE, "-n").stdout) == {
        "analyze": 2, "analyze_arm": 1, "forgetting_table": 1, "plot_figures": 1, "figures": 1,
    }
    run_in(tmp_path, *FROM_CACHE)
    assert not [path for path in layout.targets() if not (tmp_path / path).is_file()]
    corpora_figures = [figure for figure in layout.figure_plan() if figure["kind"] == "corpora"]
    assert [figure["where"] for figure in corpora_figures] == [["world-llama", "qa-mix"]]

    units = pd.read_csv(tmp_path / layout.table_file("forgetting", "csv"))
    pooled = pd.read_csv(tmp_path / layout.table_file("pooled", "csv"))
    for table in (units, pooled):
        main = table["corpus"] == "hold-bios"
        assert set(table["corpus"]) == {"hold-bios", ARM}
        assert main.iloc[: main.sum()].all(), "the main corpus' rows first"
        assert set(table.loc[~main, "dataset"]) == {"qa-mix"}
        assert set(table.loc[main, "dataset"]) == {"qa-mix", "format-only"}
    completion = pooled[(pooled.task == "world_completion") & (pooled.dataset == "qa-mix")]
    shift = completion[completion.quantity == "control_shift"]
    assert set(shift.loc[shift.corpus == ARM, "budget"]) == {50, 200}
    residual = completion[(completion.quantity == "residual") & (completion.step == 256) & (completion.budget == 50)]
    by_corpus = residual.set_index("corpus")["estimate"]
    # The arm's restored models were written to keep a quarter more of the known items lost.
    assert by_corpus[ARM] - by_corpus["hold-bios"] > 0.1, by_corpus
    share = units[(units.corpus == ARM) & (units.quantity == "residual_shrink")]
    assert set(share.step) == {256}, "the arm's budget verdict at the QA mix's sweep step"


def test_base_models_of_several_sizes_are_compared_by_their_parameter_counts(tmp_path):
    """A grid of two base models whose eval JSONs record their parameter counts (the smaller one's name sorts after
    the larger's), and an IFT variant of the larger one only: per dataset and knowledge probe, a figure of the drop
    and residual per model and one of the residual share and k* against the parameter count, a line per recipe, each
    point read from its own model's rows."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    models = [{"name": "llama-big", "source": "pretrain"},
              {"name": SMALL, "source": "pretrain", "model": {"hidden_size": 64, "intermediate_size": 256}}]
    variants = [{"name": "lr-low", "learning_rate": 1.0e-4, "schedule": "cosine", "base_models": ["llama-big"]}]
    counts = {"llama-big": 740_000, SMALL: 240_000}
    layout = cached_results(tmp_path, parameters=counts, replicates=[0, 1], base_models=models,
                            ift=config["ift"] | {"variants": variants},
                            eval=config["eval"] | {"tasks": ["world_completion", "world_ppl_pretrain"]},
                            analysis=config.get("analysis", {}) | {"run_figures": False})
    run_in(tmp_path, *FROM_CACHE)
    assert not [path for path in layout.targets() if not (tmp_path / path).is_file()]
    by_kind = {kind: [f for f in layout.figure_plan() if f["kind"] == kind] for kind in ("sizes", "scale")}
    assert [(f["dataset"], f["tasks"]) for f in by_kind["sizes"]] == [("qa-mix", ["world_completion"])]
    assert [(f["dataset"], f.get("ift_variants")) for f in by_kind["scale"]] == [("qa-mix", ["default", "lr-low"])]

    pooled = pd.read_csv(tmp_path / layout.table_file("pooled", "csv"))
    points = scale_points(pooled, "qa-mix", "world_completion", ["default", "lr-low"])
    assert list(zip(points.ift_variant, points.base_model, points.parameters, strict=True)) == [
        ("default", SMALL, 240_000), ("default", "llama-big", 740_000), ("lr-low", "llama-big", 740_000)]
    assert (points.step == 256).all() and (points.n_units == 2).all()
    share = points.set_index(["ift_variant", "base_model"])["share"]
    # The small model's restored models were written to keep a quarter more of the known items lost.
    assert share["default", SMALL] - share["default", "llama-big"] > 0.1, share
    assert (points.share_low <= points.share).all() and (points.share <= points.share_high).all()
    # The paired contrasts: each side is the pooled share of its figure point, the contrast their difference.
    contrasts = pd.read_csv(tmp_path / layout.table_file("contrasts", "csv"))
    last = contrasts[(contrasts.step == 256) & (contrasts.quantity == "residual_share")
                     & (contrasts.task == "world_completion")].set_index("kind")
    assert (last.loc["size", "first_base_model"], last.loc["size", "second_base_model"]) == ("llama-big", SMALL)
    assert (last.loc["size", "first_estimate"], last.loc["size", "second_estimate"]) == pytest.approx(
        (share["default", "llama-big"], share["default", SMALL]))
    assert last.loc["size", "estimate"] == pytest.approx(share["default", "llama-big"] - share["default", SMALL])
    assert last.loc["recipe", "first_estimate"] == pytest.approx(share["lr-low", "llama-big"])
    assert (last.loc["recipe", "second_base_model"], last["n_pairs"].tolist()) == ("llama-big", [2, 2])
    assert ((points.crossing_low < points.crossing_high) | points.crossing_high.isna()).all()
    assert [size_label(count) for count in (240_000, 740_000, 2_530_000, 7.24e9, 13e9, 50_000)] == [
        "0.24M", "0.74M", "2.5M", "7.2B", "13B", "50K"]

    unknown = pooled.assign(parameters=pooled.parameters.where(pooled.base_model != SMALL))
    with pytest.raises(ValueError, match=f"base model '{SMALL}' has no parameter count"):
        scale_points(unknown, "qa-mix", "world_completion", ["default"])
