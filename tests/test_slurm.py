"""The smoke grid through profiles/slurm on a real single-node SLURM cluster on this machine.

The session fixture starts the cluster with tests/slurm/start_cluster.sh (installing Debian's slurm-wlm and munge
if they are missing). The test is skipped only where SLURM cannot be installed here: not root, or no
working apt-get. Every one of the ~43 jobs is its own SLURM job that starts Snakemake twice (batch step and
srun step), so the run is slower than a local one: 13 min on 2 busy cores here (5+ min expected on idle ones).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, run_snakemake, smoke_config
from iftforget.grid import Grid

CLUSTER_SCRIPTS = REPO / "tests" / "slurm"
CANNOT_INSTALL = 3  # start_cluster.sh's exit status when SLURM/munge cannot be installed here

# The test cluster has no accounting database (slurmdbd), so `sacct` never reports a job as finished: job states
# come from `squeue`, which keeps finished jobs visible for MinJobAge = 300 s (slurm.conf.in). The plugin uses
# squeue only while MinJobAge >= 3x the initial status-check interval, otherwise it silently falls back to sacct.
# After a job finishes, the next check comes after this many seconds (each check that finds nothing adds 10), so
# a short interval keeps the ~40 jobs from waiting on the poller.
POLL_FOR_A_CLUSTER_WITHOUT_ACCOUNTING = (
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--seconds-between-status-checks", "2",
)


def cluster_answers() -> bool:
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node cluster; stopped again afterwards if this fixture started it."""
    was_running = cluster_answers()
    if os.geteuid() != 0:
        if not was_running:
            pytest.skip("SLURM test needs root to install and start slurmctld/slurmd (tests/slurm/start_cluster.sh)")
        yield  # someone else's cluster: use it as it is
        return
    started = subprocess.run(["bash", str(CLUSTER_SCRIPTS / "start_cluster.sh")], capture_output=True, text=True,
                             timeout=900)
    if started.returncode == CANNOT_INSTALL:
        pytest.skip(f"SLURM cannot be installed on this machine: {started.stderr.strip()}")
    assert started.returncode == 0, f"the SLURM test cluster did not come up:\n{started.stdout}\n{started.stderr}"
    yield
    if not was_running:
        subprocess.run(["bash", str(CLUSTER_SCRIPTS / "stop_cluster.sh")], check=True, timeout=120)


def cpus_per_node() -> int:
    listing = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=True).stdout
    return int(listing.split()[0])


def test_smoke_grid_runs_as_slurm_jobs_through_the_slurm_profile(slurm_cluster, tmp_path: Path):
    result = run_snakemake(
        "--profile", str(REPO / "profiles" / "slurm"),
        "--configfile", str(REPO / "config.yaml"), str(REPO / "presets" / "smoke.yaml"),
        "--directory", str(tmp_path), *POLL_FOR_A_CLUSTER_WITHOUT_ACCOUNTING,
        # Rules asking for more threads than the test node has (plot_figures: 4) would pend forever on SLURM,
        # which, unlike local runs, does not scale threads down to the cores there are.
        "--max-threads", str(cpus_per_node()),
        cwd=tmp_path, timeout=1200,
    )
    log = result.stdout + result.stderr

    grid = Grid(smoke_config())
    expected = [*grid.eval_files(), grid.summary_file()]
    missing = [path for path in expected if not (tmp_path / path).is_file()]
    assert not missing, f"missing after the SLURM run: {missing}\n{log[-4000:]}"
    # Every job but the `all` target went through sbatch, none ran on the submitting host.
    job_stats = log.split("Job stats:", 1)[1]
    total_jobs = int(re.search(r"^total\s+(\d+)$", job_stats, flags=re.MULTILINE).group(1))
    submitted_jobs = set(re.findall(r"Job (\d+) has been submitted with SLURM jobid \d+", log))
    assert len(submitted_jobs) == total_jobs - 1, log[-4000:]
    assert "Falling back to 'sacct'" not in log
