"""What a training job writes to its log: one line per logging step (step, loss, learning rate, throughput), the
parameter values each process holds (fewer under FSDP), the parameter count of a model, and the job's environment
(Python, torch, threads, CUDA, working directory). `iftforget.training` adds the progress callback to every stage.
"""

from __future__ import annotations

import os
import sys
import time

import torch
from transformers import PreTrainedModel, TrainerCallback


class ProgressLog(TrainerCallback):
    """One line per logging step in the job's log: step, loss, learning rate and throughput."""

    def __init__(self) -> None:
        self._last_time = time.perf_counter()
        self._last_step = 0
        self._last_tokens = 0

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._last_time = time.perf_counter()
        self._last_step = state.global_step
        self._last_tokens = state.num_input_tokens_seen
        print(f"[train] start at step {state.global_step} of {state.max_steps}", flush=True)
        if model is not None:
            held, total = held_parameter_values(model)
            print(f"[train] process {args.process_index} of {args.world_size} holds {held} of {total} parameter "
                  "values", flush=True)

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


def count_parameters(model: PreTrainedModel) -> int:
    return sum(p.numel() for p in model.parameters())


def held_parameter_values(model: torch.nn.Module) -> tuple[int, int]:
    """How many parameter values this process holds, and how many the model has: fewer under FSDP, whose
    parameters are DTensors of which each process keeps its shard; all of them in one process or under DDP."""
    from torch.distributed.tensor import DTensor

    parameters = list(model.parameters())
    held = sum(p.to_local().numel() if isinstance(p, DTensor) else p.numel() for p in parameters)
    return held, sum(p.numel() for p in parameters)


def log_environment() -> None:
    print(
        f"[env] python {sys.version.split()[0]} torch {torch.__version__} threads {torch.get_num_threads()} "
        f"cuda {torch.cuda.is_available()} cwd {os.getcwd()}",
        flush=True,
    )
