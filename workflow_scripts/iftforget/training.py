"""Training stages through TRL's SFTTrainer: pre-training and restoration as plain-text language modelling,
IFT on chat data with the loss on the assistant's tokens only.

The IFT run is one trajectory cut into segments. Every segment is built with the same arguments (the schedule's
length is the whole run's), stops at its grid step and saves a full Trainer checkpoint (weights, optimizer,
scheduler, RNG, data position), split into the model (kept) and the trainer state (a temporary output that the
workflow deletes once the next segment has used it); the next segment resumes from both with
`resume_from_checkpoint`, so the chain of segments is the uninterrupted run. Inside a job, periodic saves go to a work folder beside the output: a job
killed by preemption or a time limit resumes from its newest complete save when it is run again.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, load_dataset
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
)
from trl import SFTConfig, SFTTrainer

from iftforget.io import replace_dir

TRAINER_STATE = "trainer_state.json"
# What a model folder keeps; everything else a Trainer checkpoint holds (optimizer, scheduler, scaler, per-rank RNG
# state, FSDP shards of the optimizer, training arguments) is trainer state.
MODEL_FILE_PATTERNS = ("model*.safetensors", "model.safetensors.index.json", "config.json", "generation_config.json",
                       "tokenizer*", "special_tokens_map.json", "chat_template.jinja", TRAINER_STATE)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class ModelShape:
    """The Llama-style architecture of a base model pre-trained from scratch (config key `pretrain.model`)."""

    hidden_size: int = 128
    intermediate_size: int = 512
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    max_position_embeddings: int = 256
    tie_word_embeddings: bool = True


@dataclass(frozen=True)
class StageArgs:
    """One training stage's hyper-parameters; each field is a config key of that stage."""

    learning_rate: float
    steps: int = 0  # a fixed-length stage; IFT segments get their stop step and run length instead
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    schedule: str = "constant"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_length: int = 256
    packing: bool = False
    precision: str = "fp32"
    gradient_checkpointing: bool = False
    torch_compile: bool = False
    optim: str = "adamw_torch"
    attn_implementation: str = "sdpa"
    logging_steps: int = 25
    save_every_steps: int = 0
    seed: int = 0
    device: str = "cpu"
    threads: int = 0
    dataloader_workers: int = 0
    lm_head_loss: str = "auto"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "StageArgs":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in values.items() if k in known})


class FullLogitsSFTTrainer(SFTTrainer):
    """SFTTrainer whose loss is the model's own cross-entropy over the full logits.

    TRL computes the loss with a fused, chunked LM head that never materialises the (batch, length, vocabulary)
    logits: a memory saving that matters for a 7B model with a 32k vocabulary on a GPU, but on a CPU with a small
    model it makes every step 1.2-1.8x slower (benchmarks/train_step_speed.py). The labels are the same (TRL's
    collator sets prompt and padding positions to -100, so the assistant-only loss is kept), and so is the loss;
    only TRL's entropy and token-accuracy log fields, which come from the fused head, are not computed.
    """

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        return Trainer.compute_loss(
            self, model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )


def uses_full_logits(stage: "StageArgs") -> bool:
    """Whether a stage computes its loss over full logits (config key `training.lm_head_loss`)."""
    if stage.lm_head_loss == "auto":
        on_gpu = stage.device == "cuda" or (stage.device == "auto" and torch.cuda.is_available())
        return not on_gpu
    return stage.lm_head_loss == "full_logits"


class ProgressLog(TrainerCallback):
    """One line per logging step in the job's log: step, loss, learning rate and throughput."""

    def __init__(self) -> None:
        self._last_time = time.perf_counter()
        self._last_step = 0
        self._last_tokens = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._last_time = time.perf_counter()
        self._last_step = state.global_step
        self._last_tokens = state.num_input_tokens_seen
        print(f"[train] start at step {state.global_step} of {state.max_steps}", flush=True)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:
            return
        now = time.perf_counter()
        elapsed = max(now - self._last_time, 1e-9)
        steps = state.global_step - self._last_step
        tokens = state.num_input_tokens_seen - self._last_tokens
        print(
            f"[train] step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f} "
            f"lr {logs.get('learning_rate', float('nan')):.3g} {steps / elapsed:.2f} steps/s "
            f"{tokens / elapsed:.0f} tokens/s",
            flush=True,
        )
        self._last_time, self._last_step, self._last_tokens = now, state.global_step, state.num_input_tokens_seen


class StopAtStep(TrainerCallback):
    """End training at `step` with a full checkpoint, while the schedule keeps the whole run's length."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_save = True
            control.should_training_stop = True
        return control


def configure_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)


def load_tokenizer(path: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)


def build_base_model(shape: ModelShape, tokenizer: PreTrainedTokenizerBase, seed: int) -> LlamaForCausalLM:
    """A randomly initialised Llama-style model sized for the tokenizer (seeded: same seed, same weights)."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        max_position_embeddings=shape.max_position_embeddings,
        tie_word_embeddings=shape.tie_word_embeddings,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def count_parameters(model: PreTrainedModel) -> int:
    return sum(p.numel() for p in model.parameters())


def load_text_dataset(path: str | Path, columns: tuple[str, ...], cache_dir: str | Path | None = None) -> Dataset:
    """A JSON-lines file as a `datasets` table holding only the columns that training needs."""
    dataset = load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache_dir) if cache_dir else None)
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise ValueError(f"{path}: records have no field(s) {missing}; found {dataset.column_names}")
    return dataset.select_columns(list(columns))


def sft_config(stage: StageArgs, output_dir: Path, total_steps: int, assistant_only: bool) -> SFTConfig:
    """TRL arguments of a stage; `total_steps` is the schedule's length (the whole run for IFT segments)."""
    on_cpu = stage.device == "cpu"
    return SFTConfig(
        output_dir=str(output_dir),
        max_steps=total_steps,
        learning_rate=stage.learning_rate,
        lr_scheduler_type=stage.schedule,
        warmup_steps=math.ceil(stage.warmup_ratio * total_steps),
        weight_decay=stage.weight_decay,
        per_device_train_batch_size=stage.batch_size,
        gradient_accumulation_steps=stage.gradient_accumulation_steps,
        max_length=stage.max_length,
        packing=stage.packing,
        assistant_only_loss=assistant_only,
        bf16=stage.precision == "bf16",
        fp16=stage.precision == "fp16",
        activation_checkpointing=stage.gradient_checkpointing,
        torch_compile=stage.torch_compile,
        optim=stage.optim,
        use_cpu=on_cpu,
        seed=stage.seed,
        data_seed=stage.seed,
        logging_steps=stage.logging_steps,
        logging_first_step=True,
        # Periodic saves are for resuming a killed job; the stop callback saves the segment's end itself.
        save_strategy="steps" if stage.save_every_steps > 0 else "no",
        save_steps=stage.save_every_steps if stage.save_every_steps > 0 else 500,
        save_total_limit=1 if stage.save_every_steps > 0 else None,
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="all",
        dataloader_num_workers=stage.dataloader_workers,
        model_init_kwargs=None,
    )


def newest_complete_checkpoint(folder: Path) -> Path | None:
    """The newest `checkpoint-N` in `folder` whose Trainer state was written (a save completes with it)."""
    if not folder.is_dir():
        return None
    found = []
    for child in folder.iterdir():
        match = _CHECKPOINT.match(child.name)
        if match and child.is_dir() and _is_complete(child):
            found.append((int(match.group(1)), child))
    return max(found)[1] if found else None


def checkpoint_step(checkpoint: Path) -> int:
    return int(json.loads((checkpoint / TRAINER_STATE).read_text())["global_step"])


def _is_complete(checkpoint: Path) -> bool:
    """A save completes with its Trainer state, written last (but not atomically: a kill can truncate it)."""
    try:
        checkpoint_step(checkpoint)
    except (OSError, ValueError, KeyError):
        return False
    return True


def work_dir_for(output: Path) -> Path:
    """Where a job keeps its in-progress saves: beside the output, never mistaken for it."""
    return output.with_name(output.name + ".inprogress")


def stage_resume_checkpoint(model_dir: Path, state_dir: Path, work: Path) -> Path:
    """One Trainer checkpoint folder from a segment's two outputs (weights; optimizer/scheduler/RNG state),
    by symbolic links, so that `resume_from_checkpoint` reads both without copying the weights."""
    # One folder per process: the processes of a multi-GPU job stage at the same time.
    staged = work / f"resume-{model_dir.name}-rank{os.environ.get('RANK', '0')}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for source in (model_dir, state_dir):
        for item in source.iterdir():
            if not item.name.startswith("."):  # Snakemake's own marker files
                (staged / item.name).symlink_to(item.resolve())
    return staged


def train(
    model: PreTrainedModel | str,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Dataset,
    stage: StageArgs,
    output: Path,
    *,
    total_steps: int,
    stop_step: int,
    resume_from: tuple[Path, Path] | None = None,
    assistant_only: bool = False,
    state_output: Path | None = None,
    callbacks: list[TrainerCallback] | None = None,
) -> dict[str, Any]:
    """Train to `stop_step` (of a schedule `total_steps` long) and move the model to `output`.

    `resume_from` is the previous IFT segment: its model folder and its trainer-state folder. A newer complete save
    in this job's work folder, left by a killed run of the same job, takes precedence. With `state_output`, the
    optimizer, scheduler and RNG state go there (the next segment's input; the workflow deletes it once no later
    segment needs it); without it they are dropped. The model folder keeps weights, config, tokenizer and the
    Trainer's log (trainer_state.json).
    """
    output = Path(output)
    work = work_dir_for(output)
    work.mkdir(parents=True, exist_ok=True)
    configure_threads(stage.threads)
    checkpoint = stage_resume_checkpoint(*resume_from, work) if resume_from else None
    in_job = newest_complete_checkpoint(work)
    if in_job is not None and (checkpoint is None or checkpoint_step(in_job) > checkpoint_step(checkpoint)):
        print(f"[train] resuming this job's own save {in_job}", flush=True)
        checkpoint = in_job
    args = sft_config(stage, work, total_steps, assistant_only)
    trainer_class = FullLogitsSFTTrainer if uses_full_logits(stage) else SFTTrainer
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[StopAtStep(stop_step), ProgressLog(), *(callbacks or [])],
    )
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - started
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        return {}
    final = work / f"checkpoint-{trainer.state.global_step}"
    if trainer.state.global_step != stop_step or not (final / TRAINER_STATE).is_file():
        raise RuntimeError(f"training stopped at step {trainer.state.global_step}, expected {stop_step}")
    # Renamed first: from here on a kill leaves nothing that a rerun would take for a resumable save.
    final = final.rename(work / "finished")
    model_files = {path for pattern in MODEL_FILE_PATTERNS for path in final.glob(pattern)}
    state_files = [path for path in final.iterdir() if path not in model_files]
    if state_output is not None:
        staged_state = work / "trainer-state"
        staged_state.mkdir()
        for path in state_files:
            path.rename(staged_state / path.name)
        replace_dir(staged_state, state_output)
    else:
        for path in state_files:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    replace_dir(final, output)
    shutil.rmtree(work, ignore_errors=True)
    summary = {
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "seconds": round(seconds, 2),
        "tokens_seen": int(trainer.state.num_input_tokens_seen),
        "parameters": count_parameters(trainer.model),
    }
    print(f"[train] done: {json.dumps(summary)}", flush=True)
    return summary


def log_environment() -> None:
    print(
        f"[env] python {sys.version.split()[0]} torch {torch.__version__} threads {torch.get_num_threads()} "
        f"cuda {torch.cuda.is_available()} cwd {os.getcwd()}",
        flush=True,
    )


def load_model(path: str, trust_remote_code: bool = False, dtype: str = "float32") -> PreTrainedModel:
    return AutoModelForCausalLM.from_pretrained(
        path, trust_remote_code=trust_remote_code, dtype=getattr(torch, dtype)
    )
