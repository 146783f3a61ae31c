"""The cost planner (benchmarks/plan_cost.py, benchmarks/cost_model.py): its jobs are the ones Snakemake plans, its
totals add up, its figures follow from the stated assumptions, and its disk follows the save dtype and the retention
settings."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, SMOKE_FILES, TINY_SHAPE, job_counts, merge_config, model_shape, run_snakemake
from iftforget.config import check_config
from iftforget.schema import ConfigError

pytestmark = pytest.mark.workflow

sys.path.insert(0, str(REPO / "benchmarks"))  # the cost model lives beside its script, plan_cost.py
from cost_model import plan_costs  # noqa: E402

PAPER_FILES = [str(REPO / "config.yaml"), str(REPO / "presets" / "paper.yaml")]
STUDY_FILES = [str(REPO / "config.yaml"), str(REPO / "presets" / "study.yaml")]


def layered(files: list[str], overrides: dict | None = None) -> dict:
    config: dict = {}
    for path in files:
        config = merge_config(config, yaml.safe_load(open(path).read()))
    config = merge_config(config, overrides or {})
    check_config(config)
    return config


@pytest.fixture(scope="module")
def paper() -> dict:
    return layered(PAPER_FILES)


# The paper preset, the study preset (two datasets, a budget sweep of one of them), the smoke grid with a "last"
# retention (rule ift_last) and a budget sweep (more restorations), the smoke grid with two datasets, a sweep of one
# and a restoration arm of that one (its corpus, restorations, controls and analysis), and the smoke grid with two
# base models' sizes, and the smoke grid with an IFT variant of one of two base models.
DRY_RUNS = {
    "paper": (PAPER_FILES, None),
    "study": (STUDY_FILES, None),
    "smoke-last-sweep": (SMOKE_FILES, {"ift": {"keep_models": "last", "keep_trainer_state": "last"},
                                       "restore": {"sweep_budgets": [20], "keep_models": "none"}}),
    "smoke-arm": (SMOKE_FILES, {"ift_datasets": [{"name": "qa-mix", "source": "world", "generic_fraction": 0.5},
                                                 {"name": "format-only", "source": "world", "generic_fraction": 1.0}],
                                "restore": {"sweep_budgets": [20], "sweep_datasets": ["qa-mix"],
                                            "arms": [{"name": "fresh-bios", "datasets": ["qa-mix"]}]}}),
    "smoke-two-sizes": (SMOKE_FILES, {"base_models": [{"name": "world-llama", "source": "pretrain"},
                                                      {"name": "wide", "source": "pretrain", "steps": 40,
                                                       "model": {"hidden_size": 64}}]}),
    # An IFT variant of the wide model alone, with a "last" retention (rule ift_variant_last) and an arm: its own IFT
    # segments, restorations on both corpora and analyses (rules *_variant*), beside the ift block's.
    "smoke-variant": (SMOKE_FILES, {"base_models": [{"name": "world-llama", "source": "pretrain"},
                                                    {"name": "wide", "source": "pretrain",
                                                     "model": {"hidden_size": 64}}],
                                    "ift": {"keep_models": "last", "keep_trainer_state": "last",
                                            "variants": [{"name": "lr-low", "learning_rate": 1.0e-4, "batch_size": 4,
                                                          "schedule": "cosine", "base_models": ["wide"]}]},
                                    "restore": {"arms": [{"name": "fresh-bios"}]}}),
}


@pytest.mark.parametrize("name", sorted(DRY_RUNS))
def test_jobs_per_rule_are_those_of_snakemakes_dry_run(name, tmp_path, monkeypatch):
    files, overrides = DRY_RUNS[name]
    files = list(files)
    if overrides:
        (tmp_path / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        files.append(str(tmp_path / "overrides.yaml"))
    monkeypatch.setenv("HF_TOKEN", "not-a-token")  # the paper preset names HF_TOKEN (hub_token_env); nothing is fetched
    result = run_snakemake("-n", "--cores", "1", "--configfile", *files, "--directory", str(tmp_path))
    planned = {rule.rule: rule.jobs for rule in plan_costs(layered(files)).rules}
    assert planned == job_counts(result.stdout), result.stdout[-3000:]


def test_the_study_sweeps_the_restoration_budget_of_the_qa_mix_only():
    """restore.sweep_datasets: the QA mix is restored at every budget of the sweep at the sweep steps, the format-only
    runs at the main budget only; the control at every budget."""
    config = layered(STUDY_FILES)
    restore = config["restore"]
    assert restore["sweep_datasets"] == ["qa-mix"] and len(config["ift_datasets"]) == 2
    runs = len(config["replicates"]) * len(config["seeds"])
    budgets = 1 + len(restore["sweep_budgets"])
    per_run = len(config["ift"]["steps"]) * 2 + len(restore["sweep_steps"]) * (budgets - 1)
    plan = plan_costs(config)
    assert plan.rule("restore").jobs == runs * per_run
    assert plan.rule("restore_control").jobs == runs * budgets


def test_totals_are_positive_and_are_the_sums_of_the_rules(paper):
    plan = plan_costs(paper)
    total = plan.total()
    assert total.jobs > 0 and total.tokens > 0 and total.flops > 0 and total.gpu_hours > 0 and total.disk_kept > 0
    for field in ("jobs", "tokens", "flops", "gpu_hours", "disk_written", "disk_kept"):
        assert getattr(total, field) == pytest.approx(sum(getattr(rule, field) for rule in plan.rules)), field
    assert sum(a.written_bytes for a in plan.artifacts) == pytest.approx(total.disk_written)
    assert sum(a.kept_bytes for a in plan.artifacts) == pytest.approx(total.disk_kept)
    for rule in plan.rules:
        assert 0 <= rule.disk_kept <= rule.disk_written
    assert {rule.rule for rule in plan.rules if rule.gpu_hours > 0} == {"ift", "ift_last", "restore",
                                                                          "restore_control", "eval"}


def test_figures_follow_from_the_stated_assumptions(paper):
    """One rule by hand: the three controls restore 200 steps of 4 sequences x 4 accumulation x 8 processes x 700
    tokens (wikipedia), 6 FLOPs per parameter and token, at 989 TFLOP/s x 0.4."""
    plan = plan_costs(paper)
    control = plan.rule("restore_control")
    tokens = 200 * 4 * 4 * 8 * 700
    parameters = 6.74e9 + 13.0e9 + 7.24e9
    assert control.jobs == 3 and control.tokens == 3 * tokens
    assert control.flops == pytest.approx(6 * parameters * tokens)
    assert control.gpu_hours == pytest.approx(6 * parameters * tokens / (989e12 * 0.4) / 3600)
    assert control.wall_hours_per_job == pytest.approx(control.gpu_hours / 3 / 8), "8 GPUs per training job"
    slower = plan_costs(merge_config(paper, {"costs": {"train_mfu": 0.2}}))
    assert slower.rule("restore_control").gpu_hours == pytest.approx(2 * control.gpu_hours)
    assert slower.rule("eval").gpu_hours == pytest.approx(plan.rule("eval").gpu_hours), "eval has its own MFU"


def artifact_bytes(plan, name: str, kept: bool) -> float:
    return sum(a.kept_bytes if kept else a.written_bytes for a in plan.artifacts if a.artifact == name)


def test_disk_follows_the_save_dtype_and_the_retention_settings(paper):
    bf16 = plan_costs(paper)
    f32 = plan_costs(merge_config(paper, {"training": {"save_dtype": "float32"}}))
    assert artifact_bytes(f32, "IFT model (IFT@k)", kept=True) == pytest.approx(
        2 * artifact_bytes(bf16, "IFT model (IFT@k)", kept=True))
    # A bf16 model's trainer state keeps the float32 weights too: 12 bytes a parameter instead of AdamW's 8.
    assert artifact_bytes(bf16, "IFT trainer state", kept=False) == pytest.approx(
        1.5 * artifact_bytes(f32, "IFT trainer state", kept=False))
    # The paper preset deletes restored models once evaluated and keeps the last segment's trainer state only.
    assert artifact_bytes(bf16, "restored model", kept=True) == 0 < artifact_bytes(bf16, "restored model", kept=False)
    kept_restored = plan_costs(merge_config(paper, {"restore": {"keep_models": "all"}}))
    assert artifact_bytes(kept_restored, "restored model", kept=True) == artifact_bytes(bf16, "restored model",
                                                                                        kept=False)
    states = next(a for a in bf16.artifacts if a.artifact == "IFT trainer state")
    assert (states.written, states.kept) == (16, 2), "8 steps x 2 datasets written, the last of each run kept"
    temp_models = plan_costs(merge_config(paper, {"ift": {"keep_models": "none", "keep_trainer_state": "none"}}))
    assert artifact_bytes(temp_models, "IFT model (IFT@k)", kept=True) == 0
    assert temp_models.total().disk_kept < bf16.total().disk_kept
    assert temp_models.total().disk_written == pytest.approx(bf16.total().disk_written), "written either way"


def test_parameters_come_from_a_local_config_json_and_else_from_the_config(paper, tmp_path):
    from iftforget.models import build_base_model
    from iftforget.tokenizer import train_tokenizer
    from iftforget.training_log import count_parameters

    tokenizer = train_tokenizer(["a few words of text to train on", "and some more words"], vocab_size=300)
    # A model folder the config check accepts: a tokenizer, and a context as long as the paper's training.max_length.
    context = paper["training"]["max_length"]
    model = build_base_model(model_shape(**TINY_SHAPE, max_position_embeddings=context), tokenizer, seed=0)
    model.save_pretrained(tmp_path / "local")
    tokenizer.save_pretrained(tmp_path / "local")
    config = copy.deepcopy(paper)
    config["base_models"][0] = {"name": "local", "source": str(tmp_path / "local"), "parameters": 123}
    check_config(config)
    sizes = plan_costs(config).base_models
    assert sizes["local"].parameters == count_parameters(model), "the config.json on disk wins over a stated count"
    assert sizes["llama2-13b"].parameters == 13_000_000_000
    world = plan_costs(layered(SMOKE_FILES)).base_models["world-llama"]
    built = build_base_model(model_shape(**layered(SMOKE_FILES)["pretrain"]["model"]),
                             train_tokenizer(["x y z"] * 3, vocab_size=300), seed=0)
    assert world.parameters >= count_parameters(built), "tokenizer.vocab_size bounds the trained vocabulary"


def test_a_base_model_pre_trained_here_is_costed_with_its_own_size_and_pre_training():
    """A second base model of the smoke grid, wider and pre-trained longer on smaller batches: its parameters are
    its own shape's (base_models[1].model over pretrain.model), its pre-training tokens its own steps x batch."""
    from iftforget.models import ModelShape, base_model_config, parameters_of

    one = layered(SMOKE_FILES)
    wide = {"name": "wide", "source": "pretrain", "steps": 40, "batch_size": 2, "model": {"hidden_size": 64}}
    two = layered(SMOKE_FILES, {"base_models": [*one["base_models"], wide]})
    single, plan = plan_costs(one), plan_costs(two)
    shape = ModelShape.from_config(one["pretrain"]["model"] | {"hidden_size": 64})
    parameters = parameters_of(base_model_config(shape, one["tokenizer"]["vocab_size"]))
    assert plan.base_models["wide"].parameters == parameters > plan.base_models["world-llama"].parameters
    assert "base_models[1].model" in plan.base_models["wide"].source
    assert plan.base_models["world-llama"] == single.base_models["world-llama"], "the first base model as before"
    tokens = single.rule("pretrain").tokens  # 20 steps x 8 sequences
    assert plan.rule("pretrain").tokens == pytest.approx(tokens * (1 + 40 * 2 / (20 * 8)))
    assert plan.rule("pretrain").flops == pytest.approx(single.rule("pretrain").flops + 6 * parameters * tokens / 2)


def test_a_prefetched_hub_models_parameters_come_from_the_prefetch_cache(paper, tmp_path, monkeypatch):
    """After `snakemake prefetch` the config.json of a hub model is in the working directory's hub cache
    (<results_dir>/cache/hf/hub, the HF_HOME of the jobs), not in the user's: the planner counts from it."""
    from transformers import LlamaConfig

    from iftforget.models import parameters_of

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "user-home"))  # the user's own cache: empty
    commit = paper["base_models"][1]["revision"]  # the preset pins a commit: its snapshot folder is named by it
    repo = tmp_path / paper["results_dir"] / "cache" / "hf" / "hub" / "models--meta-llama--Llama-2-13b-hf"
    (repo / "snapshots" / commit).mkdir(parents=True)
    architecture = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                               vocab_size=500, torch_dtype="float16")
    architecture.save_pretrained(repo / "snapshots" / commit)
    size = plan_costs(paper).base_models["llama2-13b"]
    assert size.parameters == parameters_of(LlamaConfig.from_pretrained(repo / "snapshots" / commit))
    assert size.dtype == "float16" and "cache/hf/hub" in size.source


def test_a_hub_model_with_no_local_config_and_no_count_is_an_error_naming_the_key(paper):
    config = copy.deepcopy(paper)
    config["base_models"][1]["parameters"] = 0
    with pytest.raises(ConfigError) as error:
        plan_costs(config)
    assert "base_models[1].parameters" in str(error.value) and "Llama-2-13b-hf" in str(error.value)


def test_the_command_prints_the_paper_presets_plan_as_estimates():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "plan_cost.py"), "--configfile", *PAPER_FILES,
                             "--train-mfu", "0.35"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Estimated cost of") and "not measurements" in out
    assert "| **total** |" in out and "| ift_last |" in out and "at MFU 0.35 for training" in out
