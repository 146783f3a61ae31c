"""The execution profiles (profiles/local-gpu, profiles/slurm) build the grid's DAG, and GPU slots are exclusive.

The profiles are dry-run on the default config (no cluster and no GPU needed); the real SLURM run is in
tests/test_slurm.py. workflow_scripts/gpu_slots.py is run as the rules run it, as `python -m gpu_slots`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, job_counts, run_snakemake
from iftforget.config import check_config
from iftforget.grid import Grid

PROFILES = REPO / "profiles"
RULES_OF_THE_GRID = {"world", "tokenizer", "pretrain", "ift", "restore", "restore_control", "eval", "summarize"}


def dry_run(profile: str, workdir: Path, *configfiles: Path) -> str:
    result = run_snakemake(
        "-n", "--profile", str(PROFILES / profile), "--configfile", str(REPO / "config.yaml"), *map(str, configfiles),
        "--directory", str(workdir), cwd=workdir, timeout=300,
    )
    return result.stdout + result.stderr


def default_grid() -> Grid:
    with open(REPO / "config.yaml") as handle:
        config = yaml.safe_load(handle)
    check_config(config)  # fills in the schema's defaults
    return Grid(config)


@pytest.mark.parametrize("profile", ["slurm", "local-gpu"])
def test_profile_dry_run_lists_every_job_of_the_default_grid(profile, tmp_path):
    output = dry_run(profile, tmp_path)

    assert f"Using profile {PROFILES / profile}" in output
    counts = job_counts(output)
    assert RULES_OF_THE_GRID <= counts.keys(), output[-3000:]
    assert counts["eval"] == len(default_grid().models())


def test_slurm_profile_names_partition_and_account_once_and_no_tasks(tmp_path):
    with open(PROFILES / "slurm" / "config.yaml") as handle:
        profile = yaml.safe_load(handle)

    assert profile["executor"] == "slurm"
    defaults = dict(entry.split("=", 1) for entry in profile["default-resources"])
    # Partition and account in default-resources (one place, every rule); `tasks` would run a GPU script once
    # per GPU; GPUs never in slurm_extra, which the plugin rejects.
    assert {"slurm_partition", "slurm_account", "runtime", "mem_mb"} <= defaults.keys()
    assert "tasks" not in defaults and "slurm_extra" not in defaults
    assert "set-resources" not in profile or all(
        "slurm_partition" not in resources and "slurm_account" not in resources
        for resources in profile["set-resources"].values()
    )


def test_local_gpu_profile_caps_the_gpus_and_gpu_jobs_claim_a_slot(tmp_path):
    """With a GPU config every training/eval job asks for one GPU and runs through gpu_slots."""
    gpu_config = tmp_path / "gpus.yaml"
    gpu_config.write_text(yaml.safe_dump({"resources": {"train": {"gpus": 1}, "eval": {"gpus": 1}}}))
    with open(PROFILES / "local-gpu" / "config.yaml") as handle:
        profile = yaml.safe_load(handle)
    assert profile["resources"]["gpu"] >= 1

    output = dry_run("local-gpu", tmp_path, gpu_config)

    counts = job_counts(output)
    gpu_jobs = sum(counts[rule] for rule in ("pretrain", "ift", "restore", "restore_control", "eval"))
    assert output.count("python -m gpu_slots --gpus 1 -- ") == gpu_jobs
    assert "--gpus 0" not in output


# --- gpu_slots.py ------------------------------------------------------------------------------------------------

PRINT_DEVICES_AND_WAIT = (
    "import os, sys; print(os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>'), flush=True); sys.stdin.read()"
)


def gpu_slots_command(slots_dir: Path, *command: str, gpus: int = 1, total: int = 2) -> list[str]:
    return [sys.executable, "-m", "gpu_slots", "--gpus", str(gpus), "--total", str(total),
            "--slots-dir", str(slots_dir), "--", *command]


def gpu_slots_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}
    return {**env, "PYTHONPATH": str(REPO / "workflow_scripts"), **extra}


class HeldClaim:
    """A job under gpu_slots that has printed its CUDA_VISIBLE_DEVICES and holds its slot until `release()`.

    The job blocks reading its stdin, a pipe the test holds: closing the pipe ends the job, so the slot is held
    exactly as long as the test says, with no timing involved.
    """

    def __init__(self, slots_dir: Path, total: int = 2, **env: str):
        self.process = subprocess.Popen(
            gpu_slots_command(slots_dir, sys.executable, "-c", PRINT_DEVICES_AND_WAIT, total=total),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gpu_slots_env(**env),
        )
        # gpu_slots prints nothing on stdout itself: the first line is the job's, once it runs on its slot.
        self.devices = self.process.stdout.readline().strip()
        if not self.devices:
            self.release()
            raise AssertionError(f"the claim did not start its command:\n{self.process.stderr.read()}")

    def release(self) -> int:
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=60)
        finally:
            self.process.stdout.close()
            self.process.stderr.close()


def run_gpu_slots(slots_dir: Path, *command: str, total: int = 2, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(gpu_slots_command(slots_dir, *command, total=total), capture_output=True, text=True,
                          env=gpu_slots_env(**env), stdin=subprocess.DEVNULL, timeout=60)


PRINT_DEVICES = "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>'))"


def test_concurrent_claims_get_disjoint_gpus_and_a_claim_without_a_free_gpu_fails(tmp_path):
    first = HeldClaim(tmp_path)
    try:
        second = HeldClaim(tmp_path)
        try:
            assert {first.devices, second.devices} == {"0", "1"}

            third = run_gpu_slots(tmp_path, sys.executable, "-c", PRINT_DEVICES)

            assert third.returncode != 0
            assert third.stdout == ""  # the command never ran on a GPU that another job holds
            assert "asked for 1 GPU(s) but only 0 of 2 slots" in third.stderr
            assert "--resources gpu=" in third.stderr
        finally:
            assert second.release() == 0
        # A finished job's GPU is free again for the next one.
        freed = run_gpu_slots(tmp_path, sys.executable, "-c", PRINT_DEVICES)
        assert freed.returncode == 0, freed.stderr
        assert freed.stdout.strip() == second.devices
    finally:
        assert first.release() == 0


def test_preset_cuda_visible_devices_is_left_as_it_is(tmp_path):
    """Under SLURM (or a user's CUDA_VISIBLE_DEVICES) the command runs unchanged and claims no slot."""
    held = HeldClaim(tmp_path, total=1, CUDA_VISIBLE_DEVICES="3")
    try:
        assert held.devices == "3"
        # The machine's only slot is still free: a job placed by SLURM does not take a local slot.
        other = run_gpu_slots(tmp_path, sys.executable, "-c", PRINT_DEVICES, total=1)
        assert other.returncode == 0, other.stderr
        assert other.stdout.strip() == "0"
    finally:
        assert held.release() == 0


def test_the_job_exit_status_is_passed_through(tmp_path):
    failed = run_gpu_slots(tmp_path, sys.executable, "-c", "raise SystemExit(7)")
    assert failed.returncode == 7
