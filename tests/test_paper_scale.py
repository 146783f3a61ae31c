"""The paper-scale code paths, offline: a local model directory in place of a hub id, local JSON files in the
instruction and pre-training formats, a local lm-eval task in place of the hub tasks, and training with two processes
(gloo on CPU) started by `accelerate launch` (the paper preset's launcher; torchrun's launch of an IFT job is run by
tests/test_fsdp_cpu.py). The real code and real files: the same rules and scripts a paper-scale run uses."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from conftest import REPO, run_snakemake, write_stand_ins

pytestmark = pytest.mark.workflow

@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("paper")
    write_stand_ins(root)
    config = {
        "results_dir": "results/paper-local",
        "base_models": [{"name": "tiny", "source": str(root / "tiny-llama")}],
        "ift_datasets": [{"name": "alpaca-local", "source": str(root / "alpaca.json"), "format": "instruction"}],
        "restore_corpus": {"name": "corpus-local", "source": str(root / "corpus.jsonl"), "sample_tokens": 300},
        "seeds": [0],
        "training": {"threads": 1, "processes": 2, "launcher": "accelerate", "logging_steps": 1,
                     "save_every_steps": 0},
        "ift": {"learning_rate": 1e-3, "schedule": "cosine", "warmup_ratio": 0.03, "batch_size": 4, "total_steps": 4,
                "steps": [2, 4]},
        "restore": {"learning_rate": 1e-4, "steps": 2, "batch_size": 4},
        "eval": {"tasks": ["local_mc", "local_text"], "include_path": str(root / "tasks"), "batch_size": 8},
    }
    (root / "paper-local.yaml").write_text(yaml.safe_dump(config))
    return {"root": root, "config": root / "paper-local.yaml"}


# The models whose evals the run below asks for: one of each kind. IFT@2 is trained (IFT@4 resumes from it) but not
# evaluated, and nothing is restored from it; the analysis and figures, the same rules as in every other run, are
# left out. Each training job here starts two processes: two training and two eval jobs fewer keep this test short.
EVALUATED = ["base", "ift/alpaca-local/seed0/step4", "restored/alpaca-local/seed0/step4/corpus-local/r2",
             "control/seed0/corpus-local/r2"]
TASKS = ["local_mc", "local_text"]


@pytest.fixture(scope="module")
def paper_run(stand_ins, tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("paper-run")
    results = "results/paper-local"
    targets = [f"{results}/eval/tiny/rep0/{model}/{task}.json" for model in EVALUATED for task in TASKS]
    result = run_snakemake(*targets, "--cores", "2", "--configfile", str(REPO / "config.yaml"),
                           str(stand_ins["config"]), "--directory", str(workdir), "--printshellcmds", timeout=1200)
    assert re.search(r"accelerate launch .*--num_processes 2 .*-m ift ", result.stdout + result.stderr)
    return workdir / results


def test_instruction_data_is_mapped_to_chat_messages(paper_run):
    lines = (paper_run / "data" / "ift" / "alpaca-local.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 40
    assert [m["role"] for m in records[0]["messages"]] == ["user", "assistant"]
    assert records[0]["messages"][0]["content"].startswith("Continue:")


def test_restoration_corpus_is_a_fixed_token_budget_sample(paper_run, stand_ins):
    lines = (paper_run / "data" / "restore" / "corpus-local.jsonl").read_text().splitlines()
    sample = [json.loads(line)["text"] for line in lines]
    source = [json.loads(line)["text"] for line in (stand_ins["root"] / "corpus.jsonl").read_text().splitlines()]
    assert sample == source[: len(sample)], "documents in stream order"
    tokenizer = AutoTokenizer.from_pretrained(stand_ins["root"] / "tiny-llama")
    counts = [len(tokenizer(t)["input_ids"]) for t in sample]
    assert sum(counts) >= 300 > sum(counts[:-1]), "stops at the first document that reaches the budget"


def test_two_process_ift_checkpoints_load_and_resume(paper_run):
    segment = paper_run / "models" / "tiny" / "rep0" / "ift" / "alpaca-local" / "seed0" / "step4"
    model = AutoModelForCausalLM.from_pretrained(segment)
    assert model.num_parameters() > 0
    state = json.loads((segment / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["max_steps"] == 4
    log = (paper_run / "logs" / "ift" / "tiny" / "rep0" / "ift" / "alpaca-local" / "seed0" / "step4.log").read_text()
    assert log.count("[env]") == 2, f"two processes ran the segment:\n{log[-3000:]}"
    assert "start at step 2 of 4" in log, "the second segment resumed the first one's state"
    tokenizer = AutoTokenizer.from_pretrained(segment)
    assert "<|assistant|>" in tokenizer.chat_template, "a base model without a chat format got the configured one"


def test_local_lm_eval_tasks_evaluated_for_every_kind_of_model(paper_run):
    evals = sorted((paper_run / "eval").rglob("*.json"))
    assert sorted(str(path.relative_to(paper_run / "eval" / "tiny" / "rep0")) for path in evals) == sorted(
        f"{model}/{task}.json" for model in EVALUATED for task in TASKS)
    for path in evals:
        result = json.loads(path.read_text())
        assert result["n_items"] == len(result["items"]) == (12 if result["task"] == "local_mc" else 8)
        assert result["primary_metric"] == ("acc" if result["task"] == "local_mc" else "bits_per_byte")
    assert not (paper_run / "models" / "tiny" / "rep0" / "base").exists(), "an external base model is read in place"
    states = sorted(p.name for p in (paper_run / "models").rglob("*.trainer-state"))
    assert states == ["step2.trainer-state", "step4.trainer-state"], "ift.keep_trainer_state: all keeps each segment's"



@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_launchers_pass_every_adapter_option_through(stand_ins, tmp_path, launcher):
    """torchrun and accelerate parse their own options with argparse, which reads a prefix of one of theirs as
    that option (`--run` was taken for torchrun's `--run-path`): every training command the rules write must reach
    its adapter unchanged."""
    from accelerate.commands.launch import launch_command_parser
    from torch.distributed.run import get_args_parser

    overrides = tmp_path / "launcher.yaml"
    overrides.write_text(yaml.safe_dump({"training": {"launcher": launcher}}))
    dry_run = run_snakemake("--cores", "2", "--configfile", str(REPO / "config.yaml"), str(stand_ins["config"]),
                            str(overrides), "--directory", str(tmp_path), "--dry-run", "--printshellcmds")
    commands = [shlex.split(line.split(" > ")[0]) for line in dry_run.stdout.splitlines() if "gpu_slots" in line]
    parser, launcher_words = (get_args_parser(), 1) if launcher == "torchrun" else (launch_command_parser(), 2)
    adapters = set()
    for words in commands:
        launched = words[words.index("--") + 1:]
        if launched[0] == "python":
            continue  # a single-process job (eval): no launcher in between
        module_at = launched.index("-m") + 1
        parsed = parser.parse_args(launched[launcher_words:])
        assert parsed.module and parsed.training_script == launched[module_at], launched
        assert parsed.training_script_args == launched[module_at + 1:], launched
        adapters.add(parsed.training_script)
    assert adapters == {"ift", "restore"}, "with an external base model, IFT and restoration are the training jobs"
