"""Training through TRL: the IFT run cut into segments equals one uninterrupted run, and a killed job resumes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, TrainerCallback

from conftest import TINY_SHAPE, assert_same_weights, model_shape, model_weights, stage_args, world_config
from iftforget.checkpoints import work_dir_for
from iftforget.models import build_base_model, load_model, load_tokenizer
from iftforget.tokenizer import chat_text, train_tokenizer
from iftforget.training import load_text_dataset, train
from iftforget.world_data import WORLD_FILES, write_world

pytestmark = pytest.mark.unit

STAGE = stage_args(learning_rate=1e-3, batch_size=4, schedule="cosine", warmup_ratio=0.2, logging_steps=2, threads=1,
                   save_every_steps=0)
TOTAL = 8


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny world and a tiny (untrained) base model saved to disk; returns (world dir, base model dir)."""
    root = tmp_path_factory.mktemp("training")
    write_world(world_config(n_people=12, format_probe_people=3), {n: root / f"{n}.jsonl" for n in WORLD_FILES})
    import json

    texts = [json.loads(line)["text"] for line in (root / "pretrain.jsonl").read_text().splitlines()]
    chats = [chat_text(json.loads(line)["messages"]) for line in (root / "qa.jsonl").read_text().splitlines()]
    tokenizer = train_tokenizer(texts + chats, vocab_size=400)
    model = build_base_model(model_shape(**TINY_SHAPE), tokenizer, seed=0)
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    return root, root / "base"


def load(model_dir: Path):
    return load_model(str(model_dir), False, "sdpa")


def state_of(model_dir: Path) -> Path:
    return model_dir.with_name(model_dir.name + ".trainer-state")


def ift_segment(base_dir: Path, data: Path, out: Path, stop: int, resume: Path | None, stage=STAGE,
                total: int | None = TOTAL, **kwargs) -> dict:
    start = resume or base_dir
    dataset = load_text_dataset(data, ("messages",))
    return train(load(start), load_tokenizer(str(start)), dataset, stage, out, total_steps=total or stop,
                 stop_step=stop, resume_from=(resume, state_of(resume)) if resume else None, assistant_only=True,
                 state_output=state_of(out), **kwargs)


def test_segments_equal_one_uninterrupted_run(base, tmp_path):
    world, base_dir = base
    data = world / "qa.jsonl"
    ift_segment(base_dir, data, tmp_path / "straight-6", stop=6, resume=None)
    ift_segment(base_dir, data, tmp_path / "seg-3", stop=3, resume=None)
    ift_segment(base_dir, data, tmp_path / "seg-6", stop=6, resume=tmp_path / "seg-3")
    assert_same_weights(tmp_path / "straight-6", tmp_path / "seg-6")
    # The comparison can fail: three steps fewer give other weights.
    with pytest.raises(AssertionError):
        assert_same_weights(tmp_path / "seg-3", tmp_path / "seg-6")
    for name in ("trainer_state.json", "model.safetensors", "tokenizer.json"):
        assert (tmp_path / "seg-6" / name).is_file(), f"an IFT model keeps {name}"
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        assert (state_of(tmp_path / "seg-6") / name).is_file(), f"the trainer state keeps {name} for the next segment"
        assert not (tmp_path / "seg-6" / name).exists(), f"{name} is trainer state, not part of the model"
    assert not work_dir_for(tmp_path / "seg-6").exists(), "the in-progress folder is removed once done"


def test_with_a_constant_schedule_each_segment_may_end_its_schedule_at_its_own_step(base, tmp_path):
    """Stages.schedule_length: with a constant learning rate the schedule's length changes nothing, so a segment
    scheduled to its own stop step (3, then 6) resumes to the weights of a run scheduled to 6 at once; this is what
    lets a longer ift.total_steps append a step without retraining the earlier segments."""
    world, base_dir = base
    data = world / "qa.jsonl"
    constant = dataclasses.replace(STAGE, schedule="constant", warmup_ratio=0.0)
    ift_segment(base_dir, data, tmp_path / "straight", stop=6, resume=None, stage=constant, total=6)
    ift_segment(base_dir, data, tmp_path / "to-3", stop=3, resume=None, stage=constant, total=None)
    ift_segment(base_dir, data, tmp_path / "to-6", stop=6, resume=tmp_path / "to-3", stage=constant, total=None)
    assert_same_weights(tmp_path / "straight", tmp_path / "to-6")


def test_learning_rate_schedule_belongs_to_the_whole_run(base, tmp_path):
    world, base_dir = base
    ift_segment(base_dir, world / "qa.jsonl", tmp_path / "seg-3", stop=3, resume=None)
    import json

    state = json.loads((tmp_path / "seg-3" / "trainer_state.json").read_text())
    assert state["max_steps"] == TOTAL, "the schedule's length is the run's, not the segment's"
    assert state["global_step"] == 3


class CrashAt(TrainerCallback):
    """Stands for a job killed mid-way (the subprocess SIGKILL test lives with the reliability tests)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("killed")


def test_a_killed_job_resumes_from_its_last_save(base, tmp_path):
    world, base_dir = base
    data = world / "qa.jsonl"
    saving = dataclasses.replace(STAGE, save_every_steps=2)
    dataset = load_text_dataset(data, ("messages",))

    def run(out: Path, **kwargs) -> None:
        train(load(base_dir), load_tokenizer(str(base_dir)), dataset, saving, out, total_steps=TOTAL,
              stop_step=6, assistant_only=True, state_output=state_of(out), **kwargs)

    run(tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", callbacks=[CrashAt(5)])
    assert not (tmp_path / "killed").exists(), "a killed job leaves no output that looks complete"
    assert (work_dir_for(tmp_path / "killed") / "checkpoint-4" / "trainer_state.json").is_file()
    rerun = StepsTrained()
    run(tmp_path / "killed", callbacks=[rerun])
    # Training is deterministic, so a retrain from scratch gives these weights too: the steps show the resume.
    assert rerun.steps == [5, 6], "the rerun went on from its save at step 4"
    assert_same_weights(tmp_path / "straight", tmp_path / "killed")


class StepsTrained(TrainerCallback):
    """The optimizer steps a run takes (global step numbers): a resumed run takes only those after its save."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_restored_and_pretrained_models_keep_only_weights_and_tokenizer(base, tmp_path):
    world, base_dir = base
    dataset = load_text_dataset(world / "restore.jsonl", ("text",))
    train(load(base_dir), load_tokenizer(str(base_dir)), dataset, STAGE, tmp_path / "restored",
          total_steps=2, stop_step=2)
    files = {p.name for p in (tmp_path / "restored").iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= files
    assert "optimizer.pt" not in files
    tokenizer = load_tokenizer(str(tmp_path / "restored"))
    assert tokenizer.chat_template, "the chat template travels with every model"


@pytest.mark.parametrize("data_name, assistant_only", [("qa.jsonl", True), ("restore.jsonl", False)])
def test_full_logits_loss_trains_like_trls_fused_head(base, tmp_path, data_name, assistant_only):
    """training.lm_head_loss: the model's own cross-entropy (the CPU default) computes TRL's loss, prompt masking
    of the assistant-only IFT loss included, so both give the same training run."""
    world, base_dir = base
    column = "messages" if assistant_only else "text"
    dataset = load_text_dataset(world / data_name, (column,))
    runs = {}
    for loss in ("fused", "full_logits"):
        stage = dataclasses.replace(STAGE, lm_head_loss=loss, logging_steps=1)
        train(load(base_dir), load_tokenizer(str(base_dir)), dataset, stage, tmp_path / loss,
              total_steps=4, stop_step=4, assistant_only=assistant_only)
        import json

        history = json.loads((tmp_path / loss / "trainer_state.json").read_text())["log_history"]
        runs[loss] = [entry["loss"] for entry in history if "loss" in entry]
    assert len(runs["fused"]) == 4
    torch.testing.assert_close(torch.tensor(runs["full_logits"]), torch.tensor(runs["fused"]), rtol=1e-4, atol=1e-5)
    wa, wb = model_weights(tmp_path / "fused"), model_weights(tmp_path / "full_logits")
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-4, atol=1e-5, msg=f"{name} differs")


def test_lm_head_loss_auto_picks_full_logits_on_cpu_and_fused_on_gpu():
    from iftforget.training import uses_full_logits

    assert uses_full_logits(stage_args(device="cpu", lm_head_loss="auto"))
    assert not uses_full_logits(stage_args(device="cuda", lm_head_loss="auto"))
    assert not uses_full_logits(stage_args(device="cpu", lm_head_loss="fused"))
    assert uses_full_logits(stage_args(device="cuda", lm_head_loss="full_logits"))


def stored_dtypes(folder: Path) -> set[str]:
    """The dtypes of the tensors in a folder's safetensors files, from their headers (as stored, not as loaded)."""
    import json
    import struct

    found = set()
    for path in folder.glob("model*.safetensors"):
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        found |= {entry["dtype"] for name, entry in header.items() if name != "__metadata__"}
    return found


def master_weights(state_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(state_dir / "model.safetensors")


def test_a_model_saved_in_bfloat16_loads_and_its_chain_resumes_from_float32_weights(base, tmp_path):
    """training.save_dtype: the model folder holds bf16 weights (half the disk) and loads; the trainer state keeps the
    float32 weights and AdamW's float32 moments, so the chain cut at step 3 still equals the straight run to 6."""
    import json

    world, base_dir = base
    data = world / "qa.jsonl"
    bf16 = dataclasses.replace(STAGE, save_dtype="bfloat16")
    ift_segment(base_dir, data, tmp_path / "straight", stop=6, resume=None, stage=bf16)
    ift_segment(base_dir, data, tmp_path / "seg-3", stop=3, resume=None, stage=bf16)
    ift_segment(base_dir, data, tmp_path / "seg-6", stop=6, resume=tmp_path / "seg-3", stage=bf16)
    for name in ("seg-3", "seg-6"):
        assert stored_dtypes(tmp_path / name) == {"BF16"}, "the model folder is saved in the dtype asked for"
        assert json.loads((tmp_path / name / "config.json").read_text())["dtype"] == "bfloat16"
        assert stored_dtypes(state_of(tmp_path / name)) == {"F32"}, "the trainer state keeps the float32 weights"
        assert (tmp_path / name / "tokenizer.json").is_file() and (tmp_path / name / "trainer_state.json").is_file()
    optimizer = torch.load(state_of(tmp_path / "seg-3") / "optimizer.pt", weights_only=True)
    moments = [t for state in optimizer["state"].values() for t in state.values() if torch.is_tensor(t) and t.ndim]
    assert moments and {t.dtype for t in moments} == {torch.float32}, "AdamW's moments stay float32"
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "seg-6", dtype="auto").dtype == torch.bfloat16
    assert load(tmp_path / "seg-6").dtype == torch.float32, "jobs load a saved model as float32"
    # The chain equals the straight run, in the saved bf16 weights and in the float32 weights resumed from.
    assert_same_weights(tmp_path / "straight", tmp_path / "seg-6")
    straight, chained = master_weights(state_of(tmp_path / "straight")), master_weights(state_of(tmp_path / "seg-6"))
    for name in straight:
        torch.testing.assert_close(chained[name], straight[name], rtol=0, atol=1e-6, msg=f"{name} differs")
    # The check can fail: resumed from the bf16 weights instead (float32 copy removed), the run drifts.
    (state_of(tmp_path / "seg-3") / "model.safetensors").unlink()
    ift_segment(base_dir, data, tmp_path / "seg-6-from-bf16", stop=6, resume=tmp_path / "seg-3", stage=bf16)
    drifted = master_weights(state_of(tmp_path / "seg-6-from-bf16"))
    assert any(not torch.equal(drifted[name], straight[name]) for name in straight)


def test_a_restored_model_saved_in_bfloat16_keeps_no_float32_copy(base, tmp_path):
    world, base_dir = base
    dataset = load_text_dataset(world / "restore.jsonl", ("text",))
    stage = dataclasses.replace(STAGE, save_dtype="bfloat16")
    train(load(base_dir), load_tokenizer(str(base_dir)), dataset, stage, tmp_path / "restored",
          total_steps=2, stop_step=2)
    files = {p.name for p in (tmp_path / "restored").iterdir()}
    assert stored_dtypes(tmp_path / "restored") == {"BF16"}
    assert [name for name in files if name.endswith(".safetensors")] == ["model.safetensors"]
    assert {"config.json", "tokenizer.json", "trainer_state.json"} <= files and "optimizer.pt" not in files
    assert not work_dir_for(tmp_path / "restored").exists()
    assert load(tmp_path / "restored") is not None


def test_save_dtype_auto_is_the_dtype_of_the_model_a_job_starts_from(base, tmp_path):
    import json
    import shutil

    from iftforget.models import saved_dtype

    _, base_dir = base
    assert saved_dtype("auto", base_dir) == "float32"
    assert saved_dtype("auto", None) == "float32", "a model built here trains and saves in float32"
    assert saved_dtype("bfloat16", base_dir) == "bfloat16"
    half = tmp_path / "half"
    shutil.copytree(base_dir, half)
    config = json.loads((half / "config.json").read_text())
    config.pop("dtype", None)
    config["torch_dtype"] = "float16"  # as Llama-2's hub config writes it
    (half / "config.json").write_text(json.dumps(config))
    assert saved_dtype("auto", half) == "float16"
