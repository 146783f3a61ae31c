"""The forgetting metrics on constructed eval JSONs whose answers are known by construction: the decomposition, the
stage rule with its equivalence margin, k* and a grid that starts inside the actual stage, the restoration-budget
verdict, and pooling over replicates."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from iftforget.analysis.comparison import BASE, ComparisonKey, control, ift, load_comparison, restored
from iftforget.analysis.decision import TRANSITION_NOT_SHOWN, TRANSITION_SHOWN, decide
from iftforget.analysis.forgetting import BEFORE_GRID, NO_MATERIAL_DROP, AnalysisSettings, comparison_draws
from iftforget.analysis.intervals import ItemBootstrap
from iftforget.analysis.pooled import analyze_pooled
from iftforget.analysis.tables import POOLED_COLUMNS, UNIT_COLUMNS, analyze_task, tidy_table

pytestmark = pytest.mark.unit

SETTINGS = AnalysisSettings(bootstrap_resamples=1000, confidence=0.95, seed=0, power=0.8)
STEPS = [25, 50, 100, 200]
BUDGET = 200
DELTA = 0.05
KIND_OF_OUTPUT = {"exact_match": "generate_until", "acc": "multiple_choice", "bits_per_byte": "loglikelihood_rolling"}


def eval_json(task: str, metric: str, values, *, role, choices: int | None = None, lengths=None,
              parameters: int | None = None) -> dict:
    """An eval JSON in the workflow's format (iftforget.eval_json.eval_payload) with the given per-item values."""
    values = [float(v) for v in values]
    items = []
    for index, value in enumerate(values):
        item = {"doc_id": index, "id": f"item-{index}", "target": "answer", metric: value}
        if choices is not None:
            item["loglikelihoods"] = [-1.0] * choices
        if metric == "bits_per_byte":
            item[f"{metric}_length"] = int(lengths[index])
        items.append(item)
    weights = lengths if metric == "bits_per_byte" else np.ones(len(values))
    score = float(np.average(values, weights=weights))
    kind, step, budget = role
    return {"format_version": 1, "task": task, "output_type": KIND_OF_OUTPUT[metric],
            "model": {"path": f"{kind}-{step}-{budget}", "kind": kind, "step": step, "budget": budget,
                      **({"num_parameters": parameters} if parameters is not None else {})},
            "primary_metric": metric, "score": score, "metrics": {metric: score}, "n_items": len(items),
            "items": items, "harness": {}}


def write_comparison(folder: Path, task: str, metric: str, values: dict, **extra) -> dict:
    """Write one eval JSON per role (kind, step, budget) and return role -> path."""
    files = {}
    for role, role_values in values.items():
        path = folder / "-".join(map(str, role)) / f"{task}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(eval_json(task, metric, role_values, role=role, **extra)))
        files[role] = str(path)
    return files


def knowledge_items(n_items: int = 200, seed: int = 1) -> np.ndarray:
    """1/0 correctness of a base model that knows about 60% of the items."""
    return (np.random.default_rng(seed).random(n_items) < 0.6).astype(float)


def forget(base: np.ndarray, count: int, start: int = 0) -> np.ndarray:
    """The base with `count` of its correctly answered items (from the `start`-th on) turned wrong."""
    known = np.flatnonzero(base == 1)
    after = base.copy()
    after[known[start:start + count]] = 0
    return after


def planted(base: np.ndarray, lost: dict[int, int], ift_loss: int = 60, budget: int = BUDGET) -> dict:
    """IFT breaks `ift_loss` known items at every step; restoration brings all back but `lost[step]` of them
    (planted knowledge loss). The control is the base itself."""
    values = {BASE: base, control(budget): base.copy()}
    for step in STEPS:
        values[ift(step)] = forget(base, ift_loss)
        values[restored(step, budget)] = forget(base, lost.get(step, 0))
    return values


def analyze(tmp_path: Path, values, task="world_completion", metric="exact_match", margin=DELTA, settings=SETTINGS,
            **extra):
    files = write_comparison(tmp_path, task, metric, values, **extra)
    data = load_comparison(ComparisonKey("b", "d", 0, 0, task), files, BUDGET)
    return decide(ItemBootstrap(comparison_draws(data, settings)), data.steps, BUDGET, margin, settings)


def rows(decision) -> pd.DataFrame:
    return pd.DataFrame(decision.rows)


def quantity(table: pd.DataFrame, name: str, step: int | None = None, budget: int | None = None) -> pd.Series:
    selected = table[table["quantity"] == name]
    if step is not None:
        selected = selected[selected["step"] == step]
    if budget is not None:
        selected = selected[selected["budget"] == budget]
    assert len(selected) == 1, selected
    return selected.iloc[0]


def test_restored_equal_to_control_is_pseudo_forgetting_shown_within_the_margin(tmp_path):
    decision = analyze(tmp_path, planted(knowledge_items(), lost={}))
    table = rows(decision)
    for step in STEPS:
        residual = quantity(table, "residual", step, BUDGET)
        assert residual["estimate"] == residual["ci_low"] == residual["ci_high"] == 0
        assert quantity(table, "drop", step)["significant"]
    assert decision.stages == {step: "pseudo" for step in STEPS}
    assert decision.k_star is None and not decision.starts_in_actual


def test_a_small_loss_inside_the_margin_is_pseudo_and_one_at_the_margin_undecided(tmp_path):
    """Equivalence: 2 of 200 items (residual 0.01) is shown to be below delta = 0.05; 10 of 200 (0.05) cannot be
    told apart from delta either way: undecided, never pseudo because it is not significant."""
    decision = analyze(tmp_path, planted(knowledge_items(), lost={25: 2, 50: 10, 100: 10, 200: 10}))
    assert decision.stages[25] == "pseudo"
    assert decision.stages[50] == "undecided"
    residual = quantity(rows(decision), "residual", 50, BUDGET)
    assert residual["ci_low"] < DELTA < residual["ci_high"]


@pytest.mark.parametrize("dropped", [1, 8])
def test_a_drop_that_does_not_clear_the_margin_is_no_material_drop_never_pseudo(tmp_path, dropped):
    """1 of 200 items is no significant drop; 8 of 200 (0.04) is a significant drop whose interval does not clear
    delta = 0.05. Neither is a real drop that restoration gives back, so neither is pseudo."""
    base = knowledge_items()
    values = planted(base, lost={})
    values[ift(25)] = forget(base, dropped)
    decision = analyze(tmp_path, values)
    assert quantity(rows(decision), "drop", 25)["significant"] == (dropped == 8)
    assert decision.stages[25] == NO_MATERIAL_DROP


def test_planted_knowledge_loss_gives_actual_stage_from_the_planted_step(tmp_path):
    decision = analyze(tmp_path, planted(knowledge_items(), lost={100: 36, 200: 36}))
    assert decision.stages == {25: "pseudo", 50: "pseudo", 100: "actual", 200: "actual"}
    assert decision.k_star == 100 and decision.crossing == (50, 100)
    residual = quantity(rows(decision), "residual", 100, BUDGET)
    assert residual["estimate"] == pytest.approx(36 / 200) and residual["ci_low"] > DELTA


def test_a_grid_that_starts_inside_the_actual_stage_calls_no_k_star(tmp_path):
    decision = analyze(tmp_path, planted(knowledge_items(), lost={step: 36 for step in STEPS}))
    assert decision.stages[STEPS[0]] == "actual" and decision.starts_in_actual
    assert decision.k_star is None
    k_star, crossing = quantity(rows(decision), "k_star"), quantity(rows(decision), "crossing")
    assert k_star["stage"] == BEFORE_GRID and pd.isna(k_star["estimate"])
    assert (crossing["ci_low"], crossing["ci_high"]) == (0, STEPS[0]) and decision.crossing == (0, STEPS[0])


def test_the_detectable_residual_follows_the_item_count(tmp_path):
    """The smallest residual the data can detect: (z of the step's simultaneous level + z(0.8)) x the residual's
    bootstrap standard error, larger with fewer items."""
    lost = {step: 20 for step in STEPS}
    many = quantity(rows(analyze(tmp_path / "a", planted(knowledge_items(400), lost))), "residual_detectable", 25)
    few = quantity(rows(analyze(tmp_path / "b", planted(knowledge_items(100), lost))), "residual_detectable", 25)
    assert 0 < many["estimate"] < few["estimate"]
    # Binomial check: 20 of 400 items differ, SE ~ sqrt(p (1 - p) / n) with p = 0.05; 4 steps share the 5 %.
    z = NormalDist().inv_cdf(1 - 0.05 / (2 * len(STEPS))) + NormalDist().inv_cdf(0.8)
    assert many["ci_level"] == pytest.approx(1 - 0.05 / len(STEPS))
    assert many["estimate"] == pytest.approx(z * np.sqrt(0.05 * 0.95 / 400), rel=0.15)


def budget_values(base: np.ndarray, lost_by_budget: dict[int, int]) -> dict:
    """One step restored at several budgets, losing lost_by_budget[r] items at budget r; controls equal the base."""
    values = planted(base, lost={})
    for budget, count in lost_by_budget.items():
        values[control(budget)] = base.copy()
        values[restored(25, budget)] = forget(base, count)
    return values


@pytest.mark.parametrize("lost, verdict", [({50: 60, 200: 40, 800: 10}, "shrinking"),
                                           ({50: 60, 200: 30, 800: 30}, "stopped")])
def test_the_residual_has_stopped_shrinking_or_not_between_the_two_largest_budgets(tmp_path, lost, verdict):
    decision = analyze(tmp_path, budget_values(knowledge_items(), lost))
    assert decision.budget_status == {25: verdict}
    shrink = quantity(rows(decision), "residual_shrink", 25)
    assert shrink["budget"] == 800 and shrink["stage"] == verdict
    assert shrink["estimate"] == pytest.approx((lost[200] - lost[800]) / 200)
    for budget in lost:
        assert quantity(rows(decision), "residual", 25, budget)["estimate"] == pytest.approx(lost[budget] / 200)
    # Controls equal to the base: all of the shrink is restoration bringing items back.
    assert quantity(rows(decision), "residual_shrink_restored", 25)["estimate"] == pytest.approx(shrink["estimate"])
    assert quantity(rows(decision), "residual_shrink_control", 25)["estimate"] == 0


def test_a_residual_that_shrinks_because_the_control_forgets_is_not_knowledge_coming_back(tmp_path):
    """Restored@k identical at 200 and 800 steps while the control loses 20 of 200 items at 800: the residual
    shrinks by 0.1, and the decomposition puts all of it on the control, none on restoration."""
    base = knowledge_items()
    values = budget_values(base, {50: 60, 200: 40, 800: 40})
    values[control(800)] = forget(base, 20)  # a subset of the 40 items restored@k lost
    table = rows(analyze(tmp_path, values))
    shrink = quantity(table, "residual_shrink", 25)
    from_restored = quantity(table, "residual_shrink_restored", 25)
    from_control = quantity(table, "residual_shrink_control", 25)
    assert shrink["estimate"] == pytest.approx(20 / 200) and shrink["budget"] == 800
    assert from_restored["estimate"] == from_restored["ci_low"] == from_restored["ci_high"] == 0
    assert from_control["estimate"] == pytest.approx(20 / 200) and from_control["ci_low"] > 0
    assert from_restored["estimate"] + from_control["estimate"] == pytest.approx(shrink["estimate"])


def unit_data(tmp_path: Path, name: str, lost: int, seed: int):
    base = knowledge_items(seed=seed)
    files = write_comparison(tmp_path / name, "world_completion", "exact_match",
                             planted(base, lost={step: lost for step in STEPS}))
    return load_comparison(ComparisonKey("b", "d", seed, 0, "world_completion"), files, BUDGET)


def test_the_pooled_interval_is_a_t_interval_on_the_replicate_means(tmp_path):
    """Five replicates that disagree (residuals 0 to 0.2): the pooled residual is their mean, its interval the
    t-interval with 4 degrees of freedom at the level shared by the grid's steps; each replicate's stage is called
    from its own items and counted."""
    lost = [0, 10, 20, 30, 40]
    units = [(r, 0, unit_data(tmp_path, f"d{r}", count, seed=r)) for r, count in enumerate(lost)]
    result = analyze_pooled(units, DELTA, SETTINGS)
    residual = quantity(pd.DataFrame(result.decision.rows), "residual", 100, BUDGET)
    means = np.array(lost) / 200
    half = stats.t.ppf(1 - 0.05 / (2 * len(STEPS)), df=4) * means.std(ddof=1) / np.sqrt(5)
    assert residual["estimate"] == pytest.approx(means.mean())
    assert (residual["ci_low"], residual["ci_high"]) == pytest.approx((means.mean() - half, means.mean() + half))
    assert result.decision.method.startswith("t-interval on 5 run means")
    counts = result.stage_counts[100]
    assert sum(counts.values()) == 5 and counts["actual"] >= 2 and counts["pseudo"] >= 1
    agree = [(r, 0, unit_data(tmp_path, f"a{r}", 40, seed=r)) for r in range(5)]
    agreeing = analyze_pooled(agree, DELTA, SETTINGS)
    assert agreeing.stage_counts[100]["actual"] == 5 and agreeing.k_star_agreement == 5


def test_seeds_of_one_replicate_share_its_items_and_are_averaged_before_pooling(tmp_path):
    """Two seeds of each of two replicates: the t-interval has 1 degree of freedom (two worlds), not 3; a single
    replicate with two seeds is read through its items."""
    units = [(r, seed, unit_data(tmp_path, f"r{r}s{seed}", 10 + 10 * r + 4 * seed, seed=r))
             for r in range(2) for seed in range(2)]
    two_worlds = analyze_pooled(units, DELTA, SETTINGS)
    assert two_worlds.decision.method.startswith("t-interval on 2 run means (1 df)")
    residual = quantity(pd.DataFrame(two_worlds.decision.rows), "residual", 100, BUDGET)
    replicate_means = np.array([(10 + 14) / 2 / 200, (20 + 24) / 2 / 200])
    half = stats.t.ppf(1 - 0.05 / (2 * len(STEPS)), df=1) * replicate_means.std(ddof=1) / np.sqrt(2)
    assert residual["ci_high"] - residual["ci_low"] == pytest.approx(2 * half)
    one_world = analyze_pooled(units[:2], DELTA, SETTINGS)
    assert one_world.decision.method == ItemBootstrap.method


def known_first(known: int, n_items: int = 200) -> np.ndarray:
    """A base that answers its first `known` items right and the others wrong."""
    return (np.arange(n_items) < known).astype(float)


def identical_replicates(tmp_path: Path, values: dict, n: int = 5) -> list:
    """`n` replicates that gave the same answers: every pooled interval collapses onto their common estimate."""
    units = []
    for replicate in range(n):
        files = write_comparison(tmp_path / f"r{replicate}", "world_completion", "exact_match", values)
        units.append((replicate, 0, load_comparison(ComparisonKey("b", "d", replicate, 0, "world_completion"), files,
                                                    BUDGET)))
    return units


@pytest.mark.parametrize("known, residual_items, drop_items, expected", [
    (120, 10, 60, "undecided"),  # residual 10/200 = delta, computed 7e-17 below it
    (130, 10, 60, "undecided"),  # residual 10/200 = delta, computed 4e-17 above it
    (130, 0, 10, NO_MATERIAL_DROP),  # drop 10/200 = delta, computed 4e-17 above it: not material, so not pseudo
    (130, 11, 60, "actual"),  # one item more than delta: above it
])
def test_ties_with_the_margin_are_decided_on_the_grid_of_the_scores(tmp_path, known, residual_items, drop_items,
                                                                      expected):
    """Scores of 200 items lie on a grid of 1/200, and delta = 0.05 is on it; floating-point arithmetic puts an
    exact tie a few 1e-17 off delta, on either side. A tie is never above or below."""
    base = known_first(known)
    values = {BASE: base, control(BUDGET): base}
    for step in STEPS:
        values[ift(step)] = forget(base, drop_items)
        values[restored(step, BUDGET)] = forget(base, residual_items)
    result = analyze_pooled(identical_replicates(tmp_path, values), DELTA, SETTINGS)
    table = pd.DataFrame(result.decision.rows)
    on_margin = quantity(table, "residual", 50, BUDGET) if residual_items else quantity(table, "drop", 50)
    if expected != "actual":
        # The case is a tie only in exact arithmetic: the computed interval is off delta by floating-point noise.
        assert on_margin["ci_low"] == on_margin["ci_high"] != DELTA and abs(on_margin["ci_low"] - DELTA) < 1e-12
    assert set(result.decision.stages.values()) == {expected}


def test_a_change_of_exactly_zero_is_not_significant(tmp_path):
    """The restoration-budget shrink is exactly 0 (restored@k and the control each lose 10 items more at the larger
    budget); the floating-point residue of its four means (1.1e-16) must not make it significant."""
    base = known_first(140)
    values = planted(base, lost={})
    values[control(50)], values[restored(25, 50)] = forget(base, 3), forget(base, 23)
    values[control(BUDGET)], values[restored(25, BUDGET)] = forget(base, 13), forget(base, 33)
    shrink = quantity(pd.DataFrame(analyze_pooled(identical_replicates(tmp_path, values), DELTA, SETTINGS)
                                   .decision.rows), "residual_shrink", 25)
    assert shrink["ci_low"] != 0 and abs(shrink["ci_low"]) < 1e-12, "not a floating-point tie: the case tests nothing"
    assert not shrink["significant"] and shrink["stage"] == "stopped"


def test_drop_is_recovered_plus_residual_plus_control_shift(tmp_path):
    base = knowledge_items()
    values = planted(base, lost={50: 30, 100: 30, 200: 30})
    values[control(BUDGET)] = forget(base, 12, start=100)  # restoring the base alone costs something too
    table = rows(analyze(tmp_path, values))
    shift = quantity(table, "control_shift", 0, BUDGET)["estimate"]
    for step in STEPS:
        parts = quantity(table, "recovered", step, BUDGET)["estimate"] + quantity(table, "residual", step, BUDGET)[
            "estimate"] + shift
        assert quantity(table, "drop", step)["estimate"] == pytest.approx(parts)


def test_bootstrap_is_deterministic_for_a_seed(tmp_path):
    values = planted(knowledge_items(), lost={100: 36, 200: 36})
    first = rows(analyze(tmp_path / "a", values))
    again = rows(analyze(tmp_path / "b", values))
    other = rows(analyze(tmp_path / "c", values, settings=AnalysisSettings(1000, 0.95, seed=7, power=0.8)))
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["ci_low"].astype(float).fillna(-1), other["ci_low"].astype(float).fillna(-1))


def test_chance_adjusted_forgetting_matches_a_hand_computed_case(tmp_path):
    # 4 choices (g = 1/4), 10 items: 3 go 1->0, 3 stay 0->0, 2 stay 1->1, 2 go 0->1.
    # Know-or-guess: true forgetting = P(1->0)/(1-g) - g P(0->0)/(1-g)^2 = 0.3/0.75 - 0.25*0.3/0.5625 = 4/15.
    base = np.array([1, 1, 1, 0, 0, 0, 1, 1, 0, 0], dtype=float)
    after = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=float)
    values = {BASE: base, control(BUDGET): base, ift(25): after, restored(25, BUDGET): base}
    table = rows(analyze(tmp_path, values, task="world_mc_completion", metric="acc", choices=4))
    assert quantity(table, "forgetting_ift", 25)["estimate"] == pytest.approx(0.3)
    assert quantity(table, "forgetting_ift_chance_adjusted", 25)["estimate"] == pytest.approx(4 / 15)
    assert quantity(table, "forgetting_restored", 25)["estimate"] == 0


def test_item_paths_count_pseudo_and_actual_forgetting(tmp_path):
    table = rows(analyze(tmp_path, planted(knowledge_items(), lost={100: 36, 200: 36})))
    assert quantity(table, "path_1-0-0", 100)["estimate"] == pytest.approx(36 / 200)
    assert quantity(table, "path_1-0-1", 100)["estimate"] == pytest.approx((60 - 36) / 200)
    shares = table[table["quantity"].str.startswith("path_") & (table["step"] == 50)]["estimate"]
    assert shares.sum() == pytest.approx(1.0)


def test_bits_per_byte_is_weighted_by_bytes_and_oriented_so_that_worse_is_positive(tmp_path):
    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 150, size=40)
    base = rng.normal(2.0, 0.1, size=40)
    values = {BASE: base, control(BUDGET): base, ift(25): base + 0.5, restored(25, BUDGET): base + 0.1}
    decision = analyze(tmp_path, values, task="world_ppl_pretrain", metric="bits_per_byte", margin=None,
                       lengths=lengths)
    table = rows(decision)
    assert quantity(table, "score_base")["estimate"] == pytest.approx(float((base * lengths).sum() / lengths.sum()))
    assert quantity(table, "drop", 25)["estimate"] == pytest.approx(0.5)
    assert quantity(table, "residual", 25, BUDGET)["estimate"] == pytest.approx(0.1)
    assert decision.stages[25] == "", "a text-pattern probe gets no stage"


def test_a_truncated_eval_json_is_an_error_naming_the_file(tmp_path):
    files = write_comparison(tmp_path, "world_completion", "exact_match", planted(knowledge_items(), lost={}))
    broken = Path(files[restored(100, BUDGET)])
    broken.write_text(broken.read_text()[: len(broken.read_text()) // 2])
    with pytest.raises(ValueError, match=str(broken)):
        load_comparison(ComparisonKey("b", "d", 0, 0, "world_completion"), files, BUDGET)


def test_models_scored_on_different_items_are_an_error_naming_the_file(tmp_path):
    values = planted(knowledge_items(), lost={})
    files = write_comparison(tmp_path, "world_completion", "exact_match", values)
    other = write_comparison(tmp_path / "short", "world_completion", "exact_match", {ift(50): values[ift(50)][:-1]})
    files[ift(50)] = other[ift(50)]
    with pytest.raises(ValueError, match=f"{other[ift(50)]}.*other items"):
        load_comparison(ComparisonKey("b", "d", 0, 0, "world_completion"), files, BUDGET)


def test_analyze_task_writes_each_run_and_the_pooled_result(tmp_path):
    """The analysis job's unit of work: every run of a task and their pooled result, read back as tidy tables."""
    units = []
    for replicate in range(2):
        files = write_comparison(tmp_path / f"r{replicate}", "world_completion", "exact_match",
                                 planted(knowledge_items(seed=replicate), lost={100: 36, 200: 36}))
        models = [{"kind": k, "step": s, "budget": b, "path": p} for (k, s, b), p in files.items()]
        output = str(tmp_path / f"u{replicate}.json")
        units.append({"replicate": replicate, "seed": 0, "models": models, "output": output})
    entry = {"base_model": "b", "dataset": "d", "corpus": "c", "task": "world_completion", "budget": BUDGET,
             "margin": DELTA, "units": units, "output": str(tmp_path / "pooled.json")}
    analyze_task(entry, SETTINGS)
    table = tidy_table([unit["output"] for unit in units], UNIT_COLUMNS)
    assert sorted(table["replicate"].unique()) == [0, 1] and set(table["corpus"]) == {"c"}
    assert (table.loc[table["quantity"] == "k_star", "estimate"] == 100).all()
    pooled = json.loads((tmp_path / "pooled.json").read_text())
    assert pooled["k_star"] == 100 and pooled["stage_counts"]["100"]["actual"] == 2


def test_the_tables_give_the_base_models_parameter_count_from_its_eval_jsons(tmp_path):
    """Each run's rows carry the parameter count its base's eval JSON records (lm-eval's count of the saved model),
    the pooled rows the mean over the runs (rounded); eval JSONs that predate the count leave the column empty."""

    def tables(folder: Path, counts: list) -> tuple[pd.DataFrame, pd.DataFrame]:
        units = []
        for replicate, count in enumerate(counts):
            files = write_comparison(folder / f"r{replicate}", "world_completion", "exact_match",
                                     planted(knowledge_items(seed=replicate), lost={100: 36}), parameters=count)
            models = [{"kind": k, "step": s, "budget": b, "path": p} for (k, s, b), p in files.items()]
            units.append({"replicate": replicate, "seed": 0, "models": models, "output": str(folder / f"u{replicate}")})
        entry = {"base_model": "b", "dataset": "d", "corpus": "c", "task": "world_completion", "budget": BUDGET,
                 "margin": DELTA, "units": units, "output": str(folder / "pooled.json")}
        analyze_task(entry, SETTINGS)
        return (tidy_table([unit["output"] for unit in units], UNIT_COLUMNS),
                tidy_table([entry["output"]], POOLED_COLUMNS))

    units, pooled = tables(tmp_path / "counted", [1000, 1004])  # replicates' vocabularies may differ a little
    by_run = units[["replicate", "parameters"]].drop_duplicates().astype(float).values.tolist()
    assert by_run == [[0, 1000], [1, 1004]], by_run
    assert pooled["parameters"].astype(float).unique().tolist() == [1002]
    units, pooled = tables(tmp_path / "older", [None, None])
    assert units["parameters"].isna().all() and pooled["parameters"].isna().all()


def share_values(base: np.ndarray, drops: dict[int, int], residuals: dict[int, int]) -> dict:
    """IFT@k loses drops[k] known items; restored@k keeps residuals[k] of them lost (the control is the base)."""
    values = {BASE: base, control(BUDGET): base.copy()}
    for step in STEPS:
        values[ift(step)] = forget(base, drops[step])
        values[restored(step, BUDGET)] = forget(base, residuals[step])
    return values


@pytest.mark.parametrize("residuals, verdict", [
    ({25: 3, 50: 8, 100: 30, 200: 54}, TRANSITION_SHOWN),  # share 0.05 -> 0.9: one mechanism early, another late
    ({25: 20, 50: 24, 100: 27, 200: 30}, TRANSITION_NOT_SHOWN),  # share 0.5 at every step: one mechanism
])
def test_the_transition_test_asks_whether_the_residual_share_of_the_drop_rises(tmp_path, residuals, verdict):
    """Both residuals grow with k and cross delta, so a threshold alone would see two stages in both; only a rising
    share of the drop is a change in the nature of forgetting."""
    drops = {25: 40, 50: 48, 100: 54, 200: 60}
    decision = analyze(tmp_path, share_values(knowledge_items(), drops, residuals))
    change = quantity(rows(decision), "share_change")
    expected = residuals[200] / drops[200] - residuals[25] / drops[25]
    assert change["step"] == 25 and change["estimate"] == pytest.approx(expected)
    assert decision.transition == verdict == change["stage"]
    assert decision.stages[200] == "actual"


def test_the_residual_crosses_the_margin_after_the_last_step_shown_below_it(tmp_path):
    """Step 50's residual (10 of 200 = delta) straddles delta, step 100's lies above: the crossing is after step 25
    (the last wholly below delta) and by step 100, not after 50."""
    decision = analyze(tmp_path, planted(knowledge_items(), lost={50: 10, 100: 36, 200: 36}))
    assert decision.stages[50] == "undecided" and decision.k_star == 100
    assert decision.crossing == (25, 100)
    crossing = quantity(rows(decision), "crossing")
    assert (crossing["ci_low"], crossing["ci_high"]) == (25, 100)
