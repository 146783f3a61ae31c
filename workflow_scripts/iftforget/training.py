"""Training stages through TRL's SFTTrainer: pre-training and restoration as plain-text language modelling,
IFT on chat data with the loss on the assistant's tokens only.

The IFT run is one trajectory cut into segments. Every segment is built with the same arguments (the schedule's
length is the whole run's), stops at its grid step and saves a full Trainer checkpoint (weights, optimizer,
scheduler, RNG, data position), split into the model (kept) and the trainer state (a temporary output that the
workflow deletes once the next segment has used it); the next segment resumes from both with
`resume_from_checkpoint`, so the chain of segments is the uninterrupted run. Inside a job, periodic saves go to a
work folder beside the output: a job killed by preemption or a time limit resumes from its newest complete save when
it is run again (`iftforget.checkpoints`). Training keeps float32 weights; the model folder gets them in
`training.save_dtype` (an IFT segment's trainer state then keeps the float32 ones for the next segment). What a
job writes to its log is `iftforget.training_log`'s; its tracked run, `iftforget.tracking`'s.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, load_dataset
from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
)
from trl import SFTConfig, SFTTrainer

from iftforget.checkpoints import (
    checkpoint_step,
    finish,
    newest_complete_checkpoint,
    stage_resume_checkpoint,
    work_dir_for,
)
from iftforget.library_patches import allow_fsdp_on_cpu, fsdp_requested
from iftforget.models import save_cast
from iftforget.settings import from_block
from iftforget.tracking import NO_TRACKING, check_tracker_installed, start_tracking
from iftforget.training_log import ProgressLog, count_parameters


@dataclass(frozen=True)
class StageArgs:
    """One training stage's settings: the `training` block overridden by the stage's own keys (Stages.stage_block),
    and the seed of the run. The defaults are the schema's; the stage's length is given to `train` directly."""

    learning_rate: float
    batch_size: int
    gradient_accumulation_steps: int
    schedule: str
    warmup_ratio: float
    weight_decay: float
    max_length: int
    packing: bool
    precision: str
    gradient_checkpointing: bool
    torch_compile: bool
    optim: str
    attn_implementation: str
    logging_steps: int
    save_every_steps: int
    seed: int
    device: str
    threads: int
    lm_head_loss: str
    pad_token: str  # empty: the tokenizer's pad token, else its end-of-sequence token (TRL's choice)
    save_dtype: str  # resolved by the adapter: models.saved_dtype turns auto into a dtype
    report_to: str

    @classmethod
    def from_config(cls, block: dict[str, Any], **overrides: Any) -> "StageArgs":
        return from_block(cls, block, **overrides)


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


def load_text_dataset(path: str | Path, columns: tuple[str, ...]) -> Dataset:
    """A JSON-lines file as a `datasets` table holding only the columns that training needs."""
    dataset = load_dataset("json", data_files=str(path), split="train")
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise ValueError(f"{path}: records have no field(s) {missing}; found {dataset.column_names}")
    return dataset.select_columns(list(columns))


def sft_config(stage: StageArgs, output_dir: Path, total_steps: int, assistant_only: bool,
               run_name: str = "") -> SFTConfig:
    """TRL arguments of a stage; `total_steps` is the schedule's length (the whole run for IFT segments), `run_name`
    the tracked run's name (training.report_to)."""
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
        report_to=NO_TRACKING if stage.report_to == NO_TRACKING else [stage.report_to],
        run_name=run_name or None,
        disable_tqdm=True,
        include_num_input_tokens_seen="all",
        pad_token=stage.pad_token or None,
        model_init_kwargs=None,
    )


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
    run_name: str = "",
    tracking_dir: str | Path | None = None,
    trust_remote_code: bool = False,
) -> dict[str, Any]:
    """Train to `stop_step` (of a schedule `total_steps` long) and move the model to `output`.

    `resume_from` is the previous IFT segment: its model folder and its trainer-state folder. A newer complete save
    in this job's work folder, left by a killed run of the same job, takes precedence. With `state_output`, the
    optimizer, scheduler and RNG state go there (the next segment's input; the workflow deletes it once no later
    segment needs it); without it they are dropped. The model folder keeps weights (in `stage.save_dtype`; the
    float32 weights then go with the trainer state), config, tokenizer and the Trainer's log (trainer_state.json).
    With `stage.report_to`, the run is tracked as `run_name`, its logs in `tracking_dir`.
    """
    if stage.save_dtype == "auto":
        raise ValueError("resolve training.save_dtype = 'auto' with iftforget.models.saved_dtype before training")
    check_tracker_installed(stage.report_to)  # before anything is written
    output = Path(output)
    work = work_dir_for(output)
    work.mkdir(parents=True, exist_ok=True)
    configure_threads(stage.threads)
    checkpoint = stage_resume_checkpoint(*resume_from, work) if resume_from else None
    in_job = newest_complete_checkpoint(work)
    if in_job is not None and (checkpoint is None or checkpoint_step(in_job) > checkpoint_step(checkpoint)):
        print(f"[train] resuming this job's own save {in_job}", flush=True)
        checkpoint = in_job
    start_tracking(stage.report_to, tracking_dir, fresh=checkpoint is None or checkpoint != in_job)
    if stage.device == "cpu" and fsdp_requested():
        allow_fsdp_on_cpu()  # accelerate alone falls back to DDP on CPU (iftforget.library_patches)
    args = sft_config(stage, work, total_steps, assistant_only, run_name)
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
    if trainer.state.global_step != stop_step:
        raise RuntimeError(f"training stopped at step {trainer.state.global_step}, expected {stop_step}")
    cast = None
    if stage.save_dtype != "float32":  # the Trainer's checkpoints hold the float32 weights it trains
        cast = functools.partial(_save_cast, dtype=stage.save_dtype, trust_remote_code=trust_remote_code)
    finish(work, stop_step, output, state_output, cast)
    summary = {
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "seconds": round(seconds, 2),
        "tokens_seen": int(trainer.state.num_input_tokens_seen),
        "parameters": count_parameters(trainer.model),
    }
    print(f"[train] done: {json.dumps(summary)}", flush=True)
    return summary


def _save_cast(checkpoint: Path, out: Path, dtype: str, trust_remote_code: bool) -> None:
    save_cast(checkpoint, out, dtype, trust_remote_code)
    print(f"[train] saved the model's weights as {dtype}", flush=True)
