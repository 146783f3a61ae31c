"""Sharded training (FSDP2) executed on CPU: the paper preset's launcher and accelerate config (accelerate/fsdp.yaml)
with two processes on a gloo process group, through the workflow's own rules on a tiny Llama saved to disk. Each
process holds a shard of the parameters; the IFT@k folder is a whole Hugging Face model that one process loads and
evaluates like the same segment trained by DDP (both in float32, so that they compare closely); a chain of sharded
segments, one of them killed and rerun, equals one uninterrupted sharded run; a restoration runs sharded in the
preset's own settings (bf16). docs/paper-scale.md lists what of a GPU job this does not execute."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from conftest import (REPO, SNAKEMAKE, merge_config, model_weights, python_on_path, run_snakemake, wait_for,
                      write_stand_ins)

pytestmark = pytest.mark.workflow

RESULTS = "results/fsdp-cpu"
RUN = f"{RESULTS}/models/tiny/rep0"
STEPS = 12  # the IFT run's length; the chain cuts it at 4 and its second segment is killed after its first save
IFT = f"{RUN}/ift/chat/seed0/step{STEPS}"
CONTROL = f"{RUN}/control/seed0/corpus/r2"  # the base model restored: the restoration that needs no IFT run
EVAL = f"{RESULTS}/eval/tiny/rep0/ift/chat/seed0/step{STEPS}/local_mc.json"
# Largest weight difference allowed between runs that should be the same run (the other training tests' tolerance).
# Here they agree bit for bit (docs/paper-scale.md); elsewhere the reduce-scatter of sharded gradients and the
# all-reduce of DDP may add in another order.
ATOL = 1e-6


def cpu_fsdp_config(folder: Path) -> Path:
    """accelerate/fsdp.yaml as the paper preset names it, trained in float32 (its bf16 mixed precision would make
    the sharded run differ from the unsharded one by bf16 rounding, not by sharding)."""
    config = yaml.safe_load((REPO / "accelerate" / "fsdp.yaml").read_text())
    config["mixed_precision"] = "no"
    path = folder / "fsdp-float32.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, Any]:
    """A tiny Llama base model on disk, Alpaca-format instruction data, a plain-text corpus and a local multiple-choice
    lm-eval task; the config of a run on them with two training processes sharded by FSDP."""
    root = tmp_path_factory.mktemp("fsdp-stand-ins")
    write_stand_ins(root)
    config = {
        "results_dir": RESULTS,
        "base_models": [{"name": "tiny", "source": str(root / "tiny-llama")}],
        "ift_datasets": [{"name": "chat", "source": str(root / "alpaca.json"), "format": "instruction"}],
        "restore_corpus": {"name": "corpus", "source": str(root / "corpus.jsonl"), "sample_tokens": 200},
        "seeds": [0],
        "training": {"device": "cpu", "threads": 1, "processes": 2, "launcher": "accelerate",
                     "accelerate_config": str(cpu_fsdp_config(root)), "logging_steps": 1, "save_every_steps": 0},
        "ift": {"learning_rate": 1e-3, "schedule": "cosine", "warmup_ratio": 0.1, "batch_size": 2,
                "total_steps": STEPS, "steps": [STEPS]},
        "restore": {"learning_rate": 1e-4, "steps": 2, "batch_size": 2},
        "eval": {"tasks": ["local_mc"], "include_path": str(root / "tasks"), "batch_size": 8},
    }
    return {"root": root, "config": config}


def config_files(workdir: Path, config: dict, overrides: dict | None = None) -> list[str]:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(merge_config(config, overrides or {})))
    return ["--configfile", str(REPO / "config.yaml"), str(path), "--directory", str(workdir)]


def run_workflow(workdir: Path, config: dict, targets: list[str], overrides: dict | None = None) -> str:
    """Run the targets; returns Snakemake's output, with the shell commands it ran."""
    result = run_snakemake(*targets, "--cores", "2", *config_files(workdir, config, overrides), "--printshellcmds",
                           timeout=900)
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def sharded(stand_ins, tmp_path_factory) -> Path:
    """IFT to step 12 sharded, and its evaluation (one process)."""
    workdir = tmp_path_factory.mktemp("sharded")
    run_workflow(workdir, stand_ins["config"], [EVAL])
    return workdir


def paper_training() -> dict:
    """The paper preset's training block, changed only where a CPU or the stand-in requires it: the device, two
    processes of one thread, the stand-in's 256 positions, and accelerate/fsdp.yaml named by its absolute path (jobs
    run in the working directory). The loss is TRL's fused LM head, which `lm_head_loss: auto` picks on a GPU."""
    paper = yaml.safe_load((REPO / "presets" / "paper.yaml").read_text())["training"]
    return paper | {"device": "cpu", "threads": 1, "processes": 2, "max_length": 256, "logging_steps": 1,
                    "lm_head_loss": "fused", "accelerate_config": str(REPO / paper["accelerate_config"])}


@pytest.fixture(scope="module")
def paper_settings(stand_ins, tmp_path_factory) -> Path:
    """A restoration sharded as a paper-scale job shards it: accelerate/fsdp.yaml unchanged (bf16 mixed precision),
    bf16 training, activation checkpointing, fused AdamW, the model saved in bf16."""
    workdir = tmp_path_factory.mktemp("paper-settings")
    run_workflow(workdir, stand_ins["config"], [CONTROL], {"training": paper_training()})
    return workdir


@pytest.fixture(scope="module")
def unsharded(stand_ins, tmp_path_factory) -> Path:
    """The same IFT run by the same two processes with plain DDP, started by torchrun, and its evaluation."""
    workdir = tmp_path_factory.mktemp("unsharded")
    output = run_workflow(workdir, stand_ins["config"], [EVAL], {"training": {"launcher": "torchrun"}})
    assert "torchrun --standalone --nproc_per_node 2 -m ift " in output, output[-3000:]
    return workdir


def job_log(workdir: Path, stage: str, model: str) -> str:
    return (workdir / RESULTS / "logs" / stage / f"{model.removeprefix(RESULTS + '/models/')}.log").read_text()


def held_shares(log: str) -> dict[int, tuple[int, int]]:
    """Per process: the parameter values it held when training began, and the model's total (ProgressLog)."""
    found = re.findall(r"\[train\] process (\d+) of 2 holds (\d+) of (\d+) parameter values", log)
    return {int(rank): (int(held), int(total)) for rank, held, total in found}


def max_difference(a: Path, b: Path) -> float:
    wa, wb = model_weights(a), model_weights(b)
    assert wa.keys() == wb.keys()
    return max((wa[name] - wb[name]).abs().max().item() for name in wa)


@pytest.mark.parametrize("run, stage, model", [("sharded", "ift", IFT), ("paper_settings", "restore", CONTROL)])
def test_each_process_trains_a_shard_of_the_parameters(request, run, stage, model):
    shares = held_shares(job_log(request.getfixturevalue(run), stage, model))
    assert sorted(shares) == [0, 1], "both processes report what they hold"
    totals = {total for _, total in shares.values()}
    assert len(totals) == 1
    total = totals.pop()
    assert all(held < total for held, _ in shares.values()), f"a process holds every parameter: {shares}"
    assert sum(held for held, _ in shares.values()) == total, f"the shards add up to the model: {shares}"


def test_torchrun_runs_the_ift_job_in_two_processes(unsharded):
    log = job_log(unsharded, "ift", IFT)
    assert log.count("[env]") == 2, f"two processes ran the segment:\n{log[-3000:]}"
    assert f"[train] step {STEPS}/{STEPS}" in log, log[-3000:]


def test_sharded_ift_checkpoint_is_a_whole_model_that_matches_the_unsharded_run(stand_ins, sharded, unsharded):
    model = AutoModelForCausalLM.from_pretrained(sharded / IFT)  # one process, no process group
    assert not any(type(p).__name__ == "DTensor" for p in model.parameters())
    reference = AutoModelForCausalLM.from_pretrained(unsharded / IFT)
    assert model.state_dict().keys() == reference.state_dict().keys()
    assert held_shares(job_log(unsharded, "ift", IFT)) == {rank: (total, total) for rank, (_, total) in
                                                            held_shares(job_log(sharded, "ift", IFT)).items()}, \
        "the reference run is not sharded"
    assert max_difference(sharded / IFT, unsharded / IFT) <= ATOL
    assert max_difference(sharded / IFT, stand_ins["root"] / "tiny-llama") > ATOL, "it can tell models apart"


def test_evaluation_of_the_sharded_checkpoint_gives_the_unsharded_answers(sharded, unsharded):
    ours, theirs = (json.loads((run / EVAL).read_text())["items"] for run in (sharded, unsharded))
    assert len(ours) == len(theirs) == 12
    for item, reference in zip(ours, theirs):
        assert item["doc_id"] == reference["doc_id"]
        choice = max(range(2), key=lambda i: item["loglikelihoods"][i])
        assert choice == max(range(2), key=lambda i: reference["loglikelihoods"][i]), item["doc_id"]
        assert item["acc"] == reference["acc"]
        torch.testing.assert_close(torch.tensor(item["loglikelihoods"]), torch.tensor(reference["loglikelihoods"]),
                                   rtol=0, atol=1e-4)


def test_restoration_in_the_paper_settings_saves_a_bf16_model_that_one_process_loads(paper_settings):
    folder = paper_settings / CONTROL
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype="auto")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert not any(type(p).__name__ == "DTensor" for p in model.parameters())
    assert '"precision": "bf16"' in job_log(paper_settings, "restore", CONTROL)


def test_a_sharded_final_save_fails_the_job_rather_than_becoming_its_model(tmp_path):
    """With fsdp_state_dict_type SHARDED_STATE_DICT, a save holds the model as one distcp file per process and no
    config: the job stops there instead of moving a folder that nothing can load into place (the eval of it would fail
    later, naming the folder rather than the setting)."""
    from iftforget.checkpoints import finish

    work, output = tmp_path / "step4.inprogress", tmp_path / "step4"
    final = work / "checkpoint-4"
    for folder in ("pytorch_model_fsdp_0", "optimizer_0"):
        (final / folder).mkdir(parents=True)
        for rank in (0, 1):
            (final / folder / f"__{rank}_0.distcp").write_bytes(b"shard")
    (final / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    with pytest.raises(RuntimeError, match="FULL_STATE_DICT"):
        finish(work, 4, output, tmp_path / "step4.trainer-state")
    assert not output.exists() and not (tmp_path / "step4.trainer-state").exists()


def kill_with_every_descendant(process: subprocess.Popen) -> None:
    """SIGKILL to a process and all its descendants, as a lost node or a scheduler's cgroup kill ends a job. Not its
    process group: torch's elastic agent (behind accelerate launch and torchrun) starts each training process in a
    session of its own, which a group kill leaves running."""
    import psutil

    parent = psutil.Process(process.pid)
    for member in [parent, *parent.children(recursive=True)]:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait()


def test_sharded_chain_with_a_killed_segment_equals_the_uninterrupted_sharded_run(stand_ins, sharded, tmp_path):
    """IFT cut at step 4; the second segment resumes from the first one's sharded trainer state, saves every 2 steps,
    is killed (SIGKILL to the whole job) after its first save and rerun: it resumes from that save."""
    chain = {"ift": {"steps": [4, STEPS]}, "training": {"save_every_steps": 2}}
    files = config_files(tmp_path, stand_ins["config"], chain)
    log = tmp_path / "killed-snakemake.log"
    env = python_on_path()
    with log.open("w") as handle:
        process = subprocess.Popen([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), IFT, "--cores", "2", *files],
                                   cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    in_progress = tmp_path / f"{IFT}.inprogress"
    try:
        wait_for(lambda: any(in_progress.glob("checkpoint-*/trainer_state.json")), process, "an in-job save", log,
                 deadline_s=300)
    finally:
        kill_with_every_descendant(process)
    assert not (tmp_path / IFT).exists(), "killed before the segment's end"
    saved = [int(p.parent.name.split("-")[1]) for p in in_progress.glob("checkpoint-*/trainer_state.json")]
    assert saved and 4 < max(saved) < STEPS, "a complete in-job save between the segment's start and end"
    first_log = job_log(tmp_path, "ift", IFT)
    assert "start at step 4 of 12" in first_log, "the segment resumed the sharded state of step 4"
    run_snakemake("--unlock", *files)
    run_snakemake(IFT, "--cores", "2", "--rerun-incomplete", *files)
    rerun_log = job_log(tmp_path, "ift", IFT)
    assert "resuming this job's own save" in rerun_log
    assert held_shares(rerun_log)[0][0] < held_shares(rerun_log)[0][1], "the rerun is sharded too"
    assert max_difference(tmp_path / IFT, sharded / IFT) <= ATOL
