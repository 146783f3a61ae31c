"""IFT recipes as an axis (ift.variants): a variant trains the runs of its base models and datasets with its own
training keys over the ift block's, the same steps and seeds, restored at the same budgets against the same control;
its models, analysis and figures lie one level deeper, named by it; a grid without variants is the grid it was (the
same models, analysis jobs, plans and figures, so a finished run reruns nothing); the tables name each row's recipe
(`ift_variant`, "default" for the ift block's, also for rows written before the column), and one figure per pool with
several recipes compares them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import REPO, SMOKE_FILES, adapter_options, run_snakemake, shell_commands
from iftforget.analysis.plan import AnalysisPlan
from iftforget.analysis.tables import POOLED_COLUMNS, UNIT_COLUMNS, analyze_task, tidy_table
from iftforget.config import check_config, load_config_files
from iftforget.figures import pooled as pooled_figures
from iftforget.figures.variants import plot_variants
from iftforget.grid import Grid
from iftforget.paths import DEFAULT_VARIANT
from test_analysis import BUDGET, DELTA, SETTINGS, knowledge_items, planted, write_comparison

pytestmark = pytest.mark.workflow

DATASETS = [{"name": "qa-mix", "source": "world", "generic_fraction": 0.5},
            {"name": "format-only", "source": "world", "generic_fraction": 1.0}]
BASE_MODELS = [{"name": "world-llama", "source": "pretrain"},
               {"name": "wide-llama", "source": "pretrain", "model": {"hidden_size": 256}}]
# The paper-like recipe of the middle size only, on the QA mix only; restored on the main corpus and an arm.
VARIANT = {"name": "lr1e-4-cosine", "learning_rate": 1.0e-4, "schedule": "cosine", "base_models": ["wide-llama"],
           "datasets": ["qa-mix"]}
RESTORE = {"sweep_budgets": [12, 200], "sweep_steps": [256], "arms": [{"name": "fresh-bios", "datasets": ["qa-mix"]}]}


def grid_config(variants: list[dict]) -> dict:
    config = {"replicates": [0, 1], "seeds": [0, 1], "base_models": BASE_MODELS, "ift_datasets": DATASETS,
              "restore": RESTORE, "ift": {"variants": variants}}
    check_config(config)
    return config


def plan(variants: list[dict]) -> AnalysisPlan:
    config = grid_config(variants)
    return AnalysisPlan(Grid(config), config["analysis"])


def test_a_variant_trains_its_runs_only_with_its_own_keys_and_the_same_seeds_steps_budgets_and_control():
    without, with_variant = Grid(grid_config([])), Grid(grid_config([VARIANT]))
    before, after = without.axes.models(), with_variant.axes.models()
    added = [ref for ref in after if ref not in before]
    assert [ref for ref in after if ref in before] == before, "the ift block's models, in their order"
    assert {(ref.kind, ref.base_model, ref.dataset, ref.variant) for ref in added} == {
        ("ift", "wide-llama", "qa-mix", "lr1e-4-cosine"), ("restored", "wide-llama", "qa-mix", "lr1e-4-cosine")}
    # Its own copy of each IFT checkpoint and restoration of those runs: same seeds, steps, budgets and corpora.
    own = {(ref.kind, ref.replicate, ref.seed, ref.step, ref.corpus, ref.budget) for ref in added}
    assert own == {(ref.kind, ref.replicate, ref.seed, ref.step, ref.corpus, ref.budget) for ref in before
                   if ref.base_model == "wide-llama" and ref.dataset == "qa-mix" and ref.kind in ("ift", "restored")}
    assert all("/lr1e-4-cosine/seed" in ref.path for ref in added)
    # What the variant's IFT jobs are handed: its own keys over the ift block's; the restorations are the block's.
    stages = with_variant.stages
    ift, variant = stages.stage_settings("ift")[0], stages.stage_settings("ift", "wide-llama", "lr1e-4-cosine")[0]
    assert variant == ift | {"learning_rate": 1.0e-4, "schedule": "cosine"}
    assert stages.stage_settings("restore", "wide-llama", "lr1e-4-cosine") == stages.stage_settings("restore")
    # A cosine schedule spans the whole run; the ift block's constant one each segment's own length.
    assert [stages.schedule_length(step, "lr1e-4-cosine") for step in (8, 256)] == [256, 256]
    assert [stages.schedule_length(step) for step in (8, 256)] == [8, 256]
    assert stages.run_seed(1, 1) == without.stages.run_seed(1, 1)


def test_a_grid_without_variants_and_the_ift_blocks_part_of_one_with_them_are_the_grid_it_was():
    """What the rules hand the ift block's jobs (analysis plans, outputs, the figures' plan, the eval info) is the
    same with a variant beside it: adding one reruns nothing of the ift block's."""
    without, with_variant = plan([]), plan([VARIANT])
    for pool in without.pools():
        for corpus in [None, *without.pool_corpora(pool)[1:]]:
            assert with_variant.analysis_plan(pool, corpus) == without.analysis_plan(pool, corpus)
            assert with_variant.pool_outputs(pool, corpus) == without.pool_outputs(pool, corpus)
    for listing in ("comparison_jsons", "pooled_jsons", "figure_plan", "limit_figures"):
        old, new = getattr(without, listing)(), getattr(with_variant, listing)()
        if listing == "figure_plan":
            # The base models by size draw every recipe, a line each: that figure gains the variant's line where the
            # variant trains the dataset.
            recipes = [entry.pop("ift_variants", None) for entry in new[:len(old)] if entry["kind"] == "scale"]
            both = ["default", VARIANT["name"]]
            assert both in recipes and recipes.count(both) + recipes.count(None) == len(recipes), recipes
        assert new[:len(old)] == old, listing
    assert all("ift_variant" not in entry for entry in without.figure_plan() + without.limit_figures())
    assert all("ift_variant" not in entry for pool in without.pools() for entry in without.analysis_plan(pool))
    assert all("ift_variant" not in ref.info() for ref in without.axes.models())
    assert without.variant_analyses() == []


def test_a_variants_analysis_and_figures_lie_below_its_name_and_one_figure_compares_the_recipes():
    variant = plan([VARIANT])
    assert variant.variant_analyses() == [(("wide-llama", "qa-mix"), None, "lr1e-4-cosine"),
                                          (("wide-llama", "qa-mix"), "fresh-bios", "lr1e-4-cosine")]
    entry = variant.analysis_plan(("wide-llama", "qa-mix"), "fresh-bios", "lr1e-4-cosine")[0]
    assert entry["ift_variant"] == "lr1e-4-cosine" and entry["corpus"] == "fresh-bios"
    assert entry["output"].endswith("analysis/pooled/wide-llama/qa-mix/lr1e-4-cosine/fresh-bios/world_completion.json")
    models = [model["path"] for unit in entry["units"] for model in unit["models"]]
    assert any("/control/" in path for path in models), "the shared control"
    assert all("/lr1e-4-cosine/" in path for path in models if "/ift/" in path or "/restored/" in path)
    # Every analysis file of the grid is written by one job, and every figure file is planned once.
    outputs = [path for pool in variant.pools() for corpus in [None, *variant.pool_corpora(pool)[1:]]
               for path in variant.pool_outputs(pool, corpus)]
    outputs += [path for pool, corpus, recipe in variant.variant_analyses()
                for path in variant.pool_outputs(pool, corpus, recipe)]
    assert len(outputs) == len(set(outputs)) and set(outputs) == set(variant.comparison_jsons() +
                                                                      variant.pooled_jsons())
    figures = [path for figure in variant.figure_plan() for path in figure["paths"]]
    assert len(figures) == len(set(figures))
    compared = [figure for figure in variant.figure_plan() if figure["kind"] == "variants"]
    assert [(figure["where"], figure["ift_variants"]) for figure in compared] == [
        (["wide-llama", "qa-mix"], [DEFAULT_VARIANT, "lr1e-4-cosine"])]
    assert compared[0]["paths"][0].endswith("figures/wide-llama/qa-mix/pooled/ift-variants.pdf")
    own = [figure for figure in variant.figure_plan() if figure.get("ift_variants") == ["lr1e-4-cosine"]]
    assert {figure["kind"] for figure in own} >= {"headline", "pooled_scores", "residual_share", "stage_counts",
                                                  "corpora", "budget"}
    assert all("figures/wide-llama/qa-mix/lr1e-4-cosine/" in path for figure in own for path in figure["paths"])
    limits = [figure for figure in variant.limit_figures() if figure.get("ift_variant")]
    assert [(figure["base_model"], figure["dataset"]) for figure in limits] == [("wide-llama", "qa-mix")]


def analyzed(folder: Path, lost: dict, variant: str | None) -> tuple[list[str], str]:
    """One task of two runs analysed as an analysis job does (the plan entry names a variant, or none for the ift
    block's recipe): the comparison JSONs and the pooled JSON."""
    units = []
    for replicate in range(2):
        files = write_comparison(folder / f"r{replicate}", "world_completion", "exact_match",
                                 planted(knowledge_items(seed=replicate), lost=lost))
        models = [{"kind": k, "step": s, "budget": b, "path": p} for (k, s, b), p in files.items()]
        units.append({"replicate": replicate, "seed": 0, "models": models, "output": str(folder / f"u{replicate}")})
    entry = {"base_model": "b", "dataset": "d", "corpus": "c", "task": "world_completion", "budget": BUDGET,
             "margin": DELTA, "units": units, "output": str(folder / "pooled.json")}
    analyze_task(entry | ({"ift_variant": variant} if variant else {}), SETTINGS)
    return [unit["output"] for unit in units], entry["output"]


def test_the_tables_name_each_rows_recipe_and_rows_written_before_the_column_are_the_ift_blocks(tmp_path):
    default_units, default_pooled = analyzed(tmp_path / "default", {100: 36, 200: 36}, None)
    variant_units, variant_pooled = analyzed(tmp_path / "variant", {}, "lr-low")
    units = tidy_table(default_units + variant_units, UNIT_COLUMNS)
    pooled = tidy_table([default_pooled, variant_pooled], POOLED_COLUMNS)
    assert list(dict.fromkeys(units["ift_variant"])) == list(dict.fromkeys(pooled["ift_variant"])) == [
        DEFAULT_VARIANT, "lr-low"]
    assert json.loads(Path(variant_pooled).read_text())["comparison"]["ift_variant"] == "lr-low"
    stages = pooled[(pooled["quantity"] == "residual") & (pooled["step"] == 200)].set_index("ift_variant")["stage"]
    assert stages.to_dict() == {DEFAULT_VARIANT: "actual", "lr-low": "pseudo"}
    # An analysis JSON written before the column (a finished run's, which adding the column does not rerun).
    older = json.loads(Path(default_pooled).read_text())
    for row in older["rows"]:
        del row["ift_variant"]
    Path(default_pooled).write_text(json.dumps(older))
    assert set(tidy_table([default_pooled], POOLED_COLUMNS)["ift_variant"]) == {DEFAULT_VARIANT}
    # The recipes compared: one figure, a line per recipe, from the pooled rows of both.
    paths = [str(tmp_path / "variants.png")]
    plot_variants(pooled, ["b", "d"], ["world_completion"], [DEFAULT_VARIANT, "lr-low"], paths)
    assert Path(paths[0]).stat().st_size > 0
    # A recipe's own pooled figures (plot_figures hands each the rows of its recipe) name it; the ift block's do not.
    titles = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pooled_figures, "save", lambda figure, paths: titles.__setitem__(
            paths[0], [figure.get_suptitle(), *(ax.get_title() for ax in figure.axes)]))
        for recipe in (DEFAULT_VARIANT, "lr-low"):
            rows = [table[table["ift_variant"] == recipe] for table in (pooled, units)]
            pooled_figures.plot_pooled_scores(*rows, ["b", "d"], "world_completion", [recipe])
    assert not any("IFT recipe" in title for title in titles[DEFAULT_VARIANT])
    assert any("b + d, IFT recipe lr-low" in title for title in titles["lr-low"])


def test_the_rules_hand_a_variants_jobs_its_recipe_and_the_runs_seeds(tmp_path):
    """Dry run of the smoke grid with a variant: each of its IFT segments is the ift block's segment (same start,
    seed, stop step and data) with its own learning rate, schedule and schedule length, resuming its own previous
    segment; its restorations start from its own checkpoints with the ift block's restoration settings."""
    overrides = {"ift": {"variants": [{"name": "lr-low", "learning_rate": 1.0e-4, "schedule": "cosine"}]}}
    (tmp_path / "variant.yaml").write_text(json.dumps(overrides))
    result = run_snakemake("-n", "-p", "--cores", "1", "--configfile", *SMOKE_FILES, str(tmp_path / "variant.yaml"),
                           "--directory", str(tmp_path))
    commands = shell_commands(result.stdout)
    ift = [command for command in commands if " -m ift " in command]
    total = load_config_files(SMOKE_FILES)["ift"]["total_steps"]
    variant = [command for command in ift if "/lr-low/" in adapter_options(command)["--out"]]
    assert len(variant) == len(ift) // 2 > 0
    for command in variant:
        # The variant's segment read as if it were the ift block's: its paths without the variant's folder.
        own = adapter_options(command.replace("/qa-mix/lr-low/", "/qa-mix/"))
        default = next(options for options in map(adapter_options, ift) if options["--out"] == own["--out"])
        settings, block = own["--job"].pop("settings"), default["--job"].pop("settings")
        assert settings == block | {"learning_rate": 1.0e-4, "schedule": "cosine"}
        assert own["--job"].pop("schedule_length") == total
        default["--job"].pop("schedule_length")
        assert own == default, "same start, seed, stop step, data and execution"
        assert "--resume" not in own or "/qa-mix/lr-low/seed0/step" in adapter_options(command)["--resume"]
    restores = [adapter_options(c) for c in commands if " -m restore " in c and "/lr-low/" in c]
    assert restores and all(re.search(r"/ift/qa-mix/lr-low/seed0/step\d+$", options["--job"]["start_model"])
                            for options in restores)


def test_the_presets_name_no_variant_but_the_scaling_studys_paper_like_recipe():
    """Every committed preset but the scaling study runs the ift block's recipe alone, so their runs and caches keep
    their paths; the scaling study adds one paper-like recipe (a lower learning rate, cosine decay) at its middle
    size."""
    with_variants = {}
    for preset in sorted((REPO / "presets").glob("*.yaml")):
        config = load_config_files([REPO / "config.yaml", preset])
        if config.get("ift", {}).get("variants"):
            with_variants[preset.name] = config
    assert list(with_variants) == ["scale.yaml"]
    scale = with_variants["scale.yaml"]
    (variant,) = scale["ift"]["variants"]
    sizes = [model["name"] for model in scale["base_models"]]
    assert len(sizes) == 3 and variant["base_models"] == [sizes[1]]
    assert variant["schedule"] == "cosine" and variant["learning_rate"] < scale["ift"]["learning_rate"]
