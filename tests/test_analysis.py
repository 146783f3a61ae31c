"""The forgetting metrics on constructed eval JSONs whose answers are known by construction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iftforget.analysis.comparison import ComparisonKey, load_comparison
from iftforget.analysis.forgetting import AnalysisSettings, analyze_comparison
from iftforget.analysis.tables import analyze_files, result_table, tidy_table

SETTINGS = AnalysisSettings(bootstrap_resamples=1000, confidence=0.95, seed=0)
BASE, CONTROL = ("base", 0), ("control", 0)
STEPS = [25, 50, 100, 200]
KIND_OF_OUTPUT = {"exact_match": "generate_until", "acc": "multiple_choice", "bits_per_byte": "loglikelihood_rolling"}


def eval_json(task: str, metric: str, values, *, kind: str = "ift", step: int = 0, choices: int | None = None,
              lengths=None) -> dict:
    """An eval JSON in the workflow's format (iftforget.evaluation.eval_payload) with the given per-item values."""
    values = [float(v) for v in values]
    items = []
    for index, value in enumerate(values):
        item = {"doc_id": index, "id": f"item-{index}", "target": "answer", metric: value}
        if choices is not None:
            item["loglikelihoods"] = [-1.0] * choices
        if metric == "bits_per_byte":
            length = int(lengths[index])
            item[f"{metric}_length"] = length
            item["loglikelihood"] = -value * length * np.log(2)
        items.append(item)
    if metric == "bits_per_byte":
        score = sum(v * n for v, n in zip(values, lengths)) / sum(lengths)
    else:
        score = float(np.mean(values))
    return {
        "format_version": 1,
        "task": task,
        "output_type": KIND_OF_OUTPUT[metric],
        "model": {"path": f"models/{kind}{step}", "kind": kind, "base_model": "b", "dataset": "d", "seed": 0,
                  "step": step, "corpus": "r"},
        "primary_metric": metric,
        "score": score,
        "metrics": {metric: score},
        "n_items": len(items),
        "items": items,
        "harness": {},
    }


def write_comparison(folder: Path, task: str, metric: str, values: dict[tuple[str, int], np.ndarray],
                     **extra) -> dict[tuple[str, int], str]:
    """Write one eval JSON per role (kind, step) and return role -> path."""
    files = {}
    for (kind, step), role_values in values.items():
        path = folder / f"{kind}-{step}" / f"{task}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(eval_json(task, metric, role_values, kind=kind, step=step, **extra)))
        files[(kind, step)] = str(path)
    return files


def knowledge_items(n_items: int = 200, seed: int = 1) -> np.ndarray:
    """1/0 correctness of a base model that knows about 60% of the items."""
    return (np.random.default_rng(seed).random(n_items) < 0.6).astype(float)


def forget(base: np.ndarray, share_of_known: float) -> np.ndarray:
    """The base with the first `share_of_known` of its correctly answered items turned wrong (deterministic)."""
    known = np.flatnonzero(base == 1)
    after = base.copy()
    after[known[: int(round(share_of_known * len(known)))]] = 0
    return after


def planted(base: np.ndarray, actual_from: int | None, ift_loss: float = 0.5, actual_loss: float = 0.3):
    """IFT breaks `ift_loss` of the known items at every k; restoration brings all back except, from step
    `actual_from` on, `actual_loss` of them (planted knowledge loss). The control is the base itself."""
    values = {BASE: base, CONTROL: base.copy()}
    for step in STEPS:
        values[("ift", step)] = forget(base, ift_loss)
        lost = actual_from is not None and step >= actual_from
        values[("restored", step)] = forget(base, actual_loss) if lost else base.copy()
    return values


def quantity(table: pd.DataFrame, name: str, step: int | None = None) -> pd.DataFrame:
    rows = table[table["quantity"] == name]
    return rows if step is None else rows[rows["step"] == step]


def analyze(tmp_path: Path, values, task="world_completion", metric="exact_match", settings=SETTINGS, **extra):
    files = write_comparison(tmp_path, task, metric, values, **extra)
    return analyze_comparison(load_comparison(ComparisonKey("b", "d", 0, task), files), settings)


def test_restored_equal_to_control_is_pseudo_forgetting_with_zero_residual(tmp_path):
    result = analyze(tmp_path, planted(knowledge_items(), actual_from=None))
    table = result_table(result)
    residual = quantity(table, "residual")
    assert (residual["estimate"] == 0).all() and (residual["ci_low"] == 0).all() and (residual["ci_high"] == 0).all()
    assert not residual["significant"].any()
    assert quantity(table, "drop")["significant"].all()
    assert result.stages == {step: "pseudo" for step in STEPS}
    assert result.k_star is None
    assert quantity(table, "k_star")["estimate"].isna().all()


def test_planted_knowledge_loss_gives_actual_stage_from_the_planted_step(tmp_path):
    result = analyze(tmp_path, planted(knowledge_items(), actual_from=100))
    assert result.stages == {25: "pseudo", 50: "pseudo", 100: "actual", 200: "actual"}
    assert result.k_star == 100
    assert result.k_star_interval == (100, 100)
    residual = quantity(result_table(result), "residual", 100).iloc[0]
    known = knowledge_items().sum()
    assert residual["estimate"] == pytest.approx(round(0.3 * known) / 200)
    assert residual["ci_low"] > 0


def test_k_star_interval_widens_when_the_planted_loss_is_small(tmp_path):
    # A loss of 2 items out of 200 at k = 50 and a clear loss from k = 200: k* is uncertain between them.
    base = knowledge_items()
    values = planted(base, actual_from=200)
    known = np.flatnonzero(base == 1)
    for step in (50, 100):
        restored = base.copy()
        restored[known[:4]] = 0
        values[("restored", step)] = restored
    result = analyze(tmp_path, values)
    low, high = result.k_star_interval
    assert result.k_star in (50, 100, 200)
    assert low is not None and low <= 100 and (high is None or high >= 100)
    assert 0 < result.k_star_found_share <= 1


def test_drop_is_recovered_plus_residual_plus_control_shift(tmp_path):
    base = knowledge_items()
    values = planted(base, actual_from=50)
    values[CONTROL] = forget(base, 0.1)  # restoring the base alone costs something too
    table = result_table(analyze(tmp_path, values)).set_index(["step", "quantity"])["estimate"]
    for step in STEPS:
        parts = table[(step, "recovered")] + table[(step, "residual")] + table[(step, "control_shift")]
        assert table[(step, "drop")] == pytest.approx(parts)


def test_bootstrap_is_deterministic_for_a_seed(tmp_path):
    values = planted(knowledge_items(), actual_from=100)
    first = result_table(analyze(tmp_path / "a", values))
    again = result_table(analyze(tmp_path / "b", values))
    other = result_table(analyze(tmp_path / "c", values, settings=AnalysisSettings(1000, 0.95, seed=7)))
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["ci_low"].fillna(-1), other["ci_low"].fillna(-1))


def test_chance_adjusted_forgetting_matches_a_hand_computed_case(tmp_path):
    # 4 choices (g = 1/4), 10 items: 3 go 1->0, 3 stay 0->0, 2 stay 1->1, 2 go 0->1.
    # Know-or-guess: true forgetting = P(1->0)/(1-g) - g P(0->0)/(1-g)^2 = 0.3/0.75 - 0.25*0.3/0.5625 = 4/15.
    base = np.array([1, 1, 1, 0, 0, 0, 1, 1, 0, 0], dtype=float)
    after = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=float)
    values = {BASE: base, CONTROL: base, ("ift", 25): after, ("restored", 25): base}
    files = write_comparison(tmp_path, "world_mc", "acc", values, choices=4)
    result = analyze_comparison(load_comparison(ComparisonKey("b", "d", 0, "world_mc"), files), SETTINGS)
    table = result_table(result)
    assert result.multiple_choice
    assert quantity(table, "forgetting_ift", 25)["estimate"].iloc[0] == pytest.approx(0.3)
    assert quantity(table, "forgetting_ift_chance_adjusted", 25)["estimate"].iloc[0] == pytest.approx(4 / 15)
    assert quantity(table, "forgetting_restored", 25)["estimate"].iloc[0] == 0


def test_item_paths_count_pseudo_and_actual_forgetting(tmp_path):
    base = knowledge_items()
    table = result_table(analyze(tmp_path, planted(base, actual_from=100)))
    known = base.sum()
    lost_by_ift = round(0.5 * known)
    actually_lost = round(0.3 * known)
    at_100 = quantity(table, "path_1-0-0", 100)["estimate"].iloc[0]
    assert at_100 == pytest.approx(actually_lost / 200)
    assert quantity(table, "path_1-0-1", 100)["estimate"].iloc[0] == pytest.approx((lost_by_ift - actually_lost) / 200)
    shares = table[table["quantity"].str.startswith("path_") & (table["step"] == 50)]["estimate"]
    assert shares.sum() == pytest.approx(1.0)
    assert quantity(table, "path_1-0-1", 50)["estimate"].iloc[0] == pytest.approx(lost_by_ift / 200)


def test_bits_per_byte_is_weighted_by_bytes_and_oriented_so_that_worse_is_positive(tmp_path):
    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 150, size=40)
    base = rng.normal(2.0, 0.1, size=40)
    values = {BASE: base, CONTROL: base, ("ift", 25): base + 0.5, ("restored", 25): base + 0.1}
    result = analyze(tmp_path, values, task="world_ppl_pretrain", metric="bits_per_byte", lengths=lengths)
    table = result_table(result)
    assert not result.higher_is_better and not result.binary
    expected_base = float((base * lengths).sum() / lengths.sum())
    assert quantity(table, "score_base")["estimate"].iloc[0] == pytest.approx(expected_base)
    assert quantity(table, "drop", 25)["estimate"].iloc[0] == pytest.approx(0.5)
    assert quantity(table, "residual", 25)["estimate"].iloc[0] == pytest.approx(0.1)
    assert result.stages[25] == "actual"


def test_a_truncated_eval_json_is_an_error_naming_the_file(tmp_path):
    files = write_comparison(tmp_path, "world_completion", "exact_match", planted(knowledge_items(), None))
    broken = Path(files[("restored", 100)])
    broken.write_text(broken.read_text()[: len(broken.read_text()) // 2])
    output = tmp_path / "out.json"
    with pytest.raises(ValueError, match=str(broken)):
        analyze_files(ComparisonKey("b", "d", 0, "world_completion"), files, SETTINGS, output)
    assert not output.exists()


def test_models_scored_on_different_items_are_an_error_naming_the_file(tmp_path):
    values = planted(knowledge_items(), None)
    files = write_comparison(tmp_path, "world_completion", "exact_match", values)
    other = write_comparison(tmp_path / "short", "world_completion", "exact_match",
                             {("ift", 50): values[("ift", 50)][:-1]})
    files[("ift", 50)] = other[("ift", 50)]
    with pytest.raises(ValueError, match=f"{other[('ift', 50)]}.*other items"):
        load_comparison(ComparisonKey("b", "d", 0, "world_completion"), files)


def test_the_tidy_table_collects_every_comparison(tmp_path):
    outputs = []
    for task in ("world_completion", "world_chat"):
        files = write_comparison(tmp_path / task, task, "exact_match", planted(knowledge_items(), 100))
        outputs.append(tmp_path / f"{task}.json")
        analyze_files(ComparisonKey("b", "d", 0, task), files, SETTINGS, outputs[-1])
    table = tidy_table(outputs)
    assert set(table["task"]) == {"world_completion", "world_chat"}
    k_star = table[table["quantity"] == "k_star"].set_index("task")["estimate"]
    assert (k_star == 100).all()
    assert table["n_resamples"].eq(1000).all()
