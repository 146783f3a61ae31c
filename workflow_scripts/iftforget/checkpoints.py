"""Trainer checkpoints of the workflow's jobs: the in-job saves a killed job resumes from, the staging of a previous
IFT segment's two outputs as one checkpoint to resume, and the split of a finished checkpoint into the model (kept)
and the trainer state (the next IFT segment's input).

Training keeps float32 weights, and so does every Trainer checkpoint. When the model is saved in a narrower dtype
(training.save_dtype), the model folder gets the cast weights and the trainer state keeps the float32 ones, which a
resumed segment loads in place of the model folder's: the chain of segments stays the uninterrupted run.

Every step is a rename or a link, so an interrupted job never leaves an output that looks complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from iftforget.io import replace_dir
from iftforget.model_files import model_dir_problems

TRAINER_STATE = "trainer_state.json"
# What a model folder keeps; everything else a Trainer checkpoint holds (optimizer, scheduler, scaler, per-rank RNG
# state, FSDP shards of the optimizer, training arguments) is trainer state.
WEIGHT_FILE_PATTERNS = ("model*.safetensors", "model.safetensors.index.json")
MODEL_CONFIG_FILES = ("config.json", "generation_config.json")
MODEL_FILE_PATTERNS = (*WEIGHT_FILE_PATTERNS, *MODEL_CONFIG_FILES, "tokenizer*", "special_tokens_map.json",
                       "chat_template.jinja", TRAINER_STATE)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


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


def _weight_files(folder: Path) -> set[Path]:
    return {path for pattern in WEIGHT_FILE_PATTERNS for path in folder.glob(pattern)}


def stage_resume_checkpoint(model_dir: Path, state_dir: Path, work: Path) -> Path:
    """One Trainer checkpoint folder from a segment's two outputs (weights; optimizer/scheduler/RNG state),
    by symbolic links, so that `resume_from_checkpoint` reads both without copying the weights. The float32 weights
    a trainer state keeps (a model saved in a narrower dtype) are the ones resumed, not the model folder's."""
    # One folder per process: the processes of a multi-GPU job stage at the same time.
    staged = work / f"resume-{model_dir.name}-rank{os.environ.get('RANK', '0')}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    skipped = _weight_files(model_dir) if _weight_files(state_dir) else set()
    for source in (model_dir, state_dir):
        for item in source.iterdir():
            if not item.name.startswith(".") and item not in skipped:  # Snakemake's own marker files
                (staged / item.name).symlink_to(item.resolve())
    return staged


def finish(work: Path, step: int, output: Path, state_output: Path | None,
           cast: Callable[[Path, Path], None] | None = None) -> None:
    """Move the finished checkpoint of `step` in `work` to `output` (weights, config, tokenizer, the Trainer's log) and
    its optimizer, scheduler and RNG state to `state_output` (dropped without one); then remove `work`.

    With `cast` (which saves the checkpoint's model into a new folder in the save dtype), `output` gets the cast
    weights and config, and the checkpoint's float32 weights go with the trainer state, for the next segment."""
    final = work / f"checkpoint-{step}"
    if not (final / TRAINER_STATE).is_file():
        raise RuntimeError(f"training stopped without its final save {final}")
    problems = model_dir_problems(final)
    if problems:  # a sharded save: nothing that one process could load would become the output
        raise RuntimeError(f"the final save {final} holds no whole model ({'; '.join(problems)}); with FSDP, the "
                           "accelerate config needs fsdp_state_dict_type: FULL_STATE_DICT (accelerate/fsdp.yaml)")
    # Renamed first: from here on a kill leaves nothing that a rerun would take for a resumable save.
    final = final.rename(work / "finished")
    model_files = {path for pattern in MODEL_FILE_PATTERNS for path in final.glob(pattern)}
    if cast is None:
        model_dir = final
        state_files = [path for path in final.iterdir() if path not in model_files]
    else:
        model_dir = work / "saved"
        shutil.rmtree(model_dir, ignore_errors=True)
        cast(final, model_dir)
        for path in model_files - _weight_files(final):
            if path.name in MODEL_CONFIG_FILES:
                path.unlink()  # the cast model's own config and generation config stand in for these
            else:
                path.rename(model_dir / path.name)
        state_files = list(final.iterdir())  # the trainer state, with the checkpoint's float32 weights
    if state_output is not None:
        staged_state = work / "trainer-state"
        staged_state.mkdir()
        for path in state_files:
            path.rename(staged_state / path.name)
        replace_dir(staged_state, state_output)
    else:
        for path in state_files:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    replace_dir(model_dir, output)
    shutil.rmtree(work, ignore_errors=True)
