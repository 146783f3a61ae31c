"""Run a command on GPUs of its own: `python -m gpu_slots --gpus N -- COMMAND...`.

Snakemake counts GPUs (`resources: gpu=N` against `--resources gpu=M`) but does not say which ones a job gets, so
two concurrent jobs would both use GPU 0. This wrapper claims N free GPU slots by taking an exclusive lock on one
file per GPU, sets CUDA_VISIBLE_DEVICES to them, runs the command, and releases the slots when it exits (the kernel
drops the locks even if the job is killed). Under SLURM the scheduler has already set CUDA_VISIBLE_DEVICES and the
command runs unchanged; with N = 0 the command runs unchanged too.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SLOTS_DIR_VARIABLE = "IFTFORGET_GPU_SLOTS_DIR"


def visible_gpu_count() -> int:
    """GPUs on this machine, from nvidia-smi (no CUDA initialisation, so no torch import)."""
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def claim_slots(count: int, total: int, slots_dir: Path) -> tuple[list[int], list[int]]:
    """Lock `count` of the `total` slot files without waiting; returns (slot ids, open file descriptors)."""
    slots_dir.mkdir(parents=True, exist_ok=True)
    claimed: list[int] = []
    handles: list[int] = []
    for slot in range(total):
        if len(claimed) == count:
            break
        fd = os.open(slots_dir / f"gpu{slot}.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        claimed.append(slot)
        handles.append(fd)
    if len(claimed) < count:
        for fd in handles:
            os.close(fd)
        raise RuntimeError(
            f"asked for {count} GPU(s) but only {len(claimed)} of {total} slots in {slots_dir} are free: "
            "run Snakemake with --resources gpu=<number of GPUs> so that it never over-commits them"
        )
    return claimed, handles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, required=True, help="GPUs the job needs (its resources.gpu)")
    parser.add_argument("--total", type=int, default=None, help="GPUs on the machine (default: nvidia-smi -L)")
    parser.add_argument("--slots-dir", type=Path, default=None, help=f"lock folder (default: ${SLOTS_DIR_VARIABLE})")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    if args.gpus <= 0 or "CUDA_VISIBLE_DEVICES" in os.environ:
        return subprocess.call(command)
    total = args.total if args.total is not None else visible_gpu_count()
    slots_dir = args.slots_dir or Path(
        os.environ.get(SLOTS_DIR_VARIABLE, Path(tempfile.gettempdir()) / f"iftforget-gpu-slots-{os.getuid()}")
    )
    slots, handles = claim_slots(args.gpus, total, slots_dir)
    print(f"[gpu_slots] CUDA_VISIBLE_DEVICES={','.join(map(str, slots))}", file=sys.stderr, flush=True)
    try:
        return subprocess.call(command, env={**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(map(str, slots))})
    finally:
        for fd in handles:
            os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
