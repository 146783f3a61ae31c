"""The smoke grid through `snakemake --profile slurm` on a real single-node SLURM cluster on this machine, and the
machine left as the tests found it.

The cluster profile is installed by name into a temporary user config folder (XDG_CONFIG_HOME) with the command of
docs/clusters.md, and the workflow profile (profiles/default) is loaded by Snakemake itself. Debian's slurm-wlm and
munge are installed first where they are missing (announced on the terminal; docs/testing.md). The cluster is
started by tests/slurm/start_cluster.sh and stopped by tests/slurm/stop_cluster.sh after the test, pass or fail;
the last test checks that nothing of it is left and that Snakemake starts as fast as before (the SLURM plugin asks
`scontrol` at every start, which waits ~9 s for a controller that a left-behind slurm.conf names).

Skipped only where SLURM cannot be installed here (not root, or no working apt-get). Every one of the 19 jobs of
the smoke grid is its own SLURM job that starts Snakemake twice (batch step and srun step), so the run is slower
than a local one: 6.5 min on 2 busy cores here, most of it the jobs' own work.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import REPO, config_args, install_system_packages, run_snakemake, smoke_config
from iftforget.grid import Grid
from test_profiles import CONFIG_SIZED_RULES, WORKFLOW_PROFILE, install_profile

CLUSTER_SCRIPTS = REPO / "tests" / "slurm"
CANNOT_RUN = 3  # start_cluster.sh's exit status when the cluster cannot run here (not root, packages missing)
# start_cluster.sh's own folder (its default): state, spool, logs, pid files, munge key and socket.
CLUSTER_DIR = Path(os.environ.get("CLUSTER_DIR", "/var/tmp/iftforget-test-cluster"))
SLURM_CONF = Path("/etc/slurm/slurm.conf")
SLURM_PACKAGES = ["slurm-wlm", "munge"]
SLURM_BINARIES = ["slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "srun", "munged", "munge"]
DAEMONS = {"slurmctld", "slurmd", "slurmstepd", "munged"}
# Everywhere a test cluster (this one, or the one of earlier versions of these scripts) writes; compared before the
# cluster starts and after it stopped. Under /etc by content (a config put back must be byte-identical), elsewhere
# by name (logs of the machine's own daemons may grow meanwhile).
FOOTPRINT = [Path("/etc/slurm"), Path("/etc/munge"), CLUSTER_DIR, Path("/var/spool/slurmctld"),
             Path("/var/spool/slurmd"), Path("/var/log/slurm"), Path("/var/log/munge"), Path("/var/lib/munge"),
             Path("/run/munge"), Path("/run/slurmctld.pid"), Path("/run/slurmd.pid")]

# The test cluster has no accounting database (slurmdbd), so `sacct` never reports a job as finished: job states
# come from `squeue`, which keeps finished jobs visible for MinJobAge (slurm.conf.in). The plugin uses squeue only
# while MinJobAge >= 3x the initial status-check interval, otherwise it silently falls back to sacct. After a job
# finishes, the next check comes after this many seconds, so a short interval keeps the jobs from waiting on the
# poller.
POLL_FOR_A_CLUSTER_WITHOUT_ACCOUNTING = (
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--seconds-between-status-checks", "2",
)
# Job sizes of the smoke run, unlike any default, so that finding them at SLURM shows where they came from.
JOB_SIZES = {"resources": {"train": {"runtime": 47, "mem_mb": 1100}, "eval": {"runtime": 23, "mem_mb": 900}}}


def missing_binaries() -> list[str]:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [binary for binary in SLURM_BINARIES if shutil.which(binary, path=path) is None]


def footprint() -> dict[str, str]:
    """Every path under FOOTPRINT: a hash of the content for files under /etc, else whether it is a file or folder."""
    found = {}
    for root in FOOTPRINT:
        paths = [root, *root.rglob("*")] if root.is_dir() else [root] if root.exists() else []
        for path in paths:
            if path.is_dir() and not path.is_symlink():
                found[str(path)] = "folder"
            elif path.parts[1] == "etc" and path.is_file():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[str(path)] = "file"
    return found


def daemon_pids() -> dict[int, str]:
    """The SLURM and munge processes running now, by pid (not zombies, which this container's init reaps late)."""
    running = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                name, _, rest = (proc / "stat").read_text().partition(" (")[2].rpartition(") ")
                if name in DAEMONS and not rest.startswith("Z"):
                    running[int(proc.name)] = name
    return running


def noop_dry_run_seconds(workdir: Path) -> float:
    """The fastest of two `snakemake -n` of the smoke grid in an empty working directory (the same command each
    time; two, as the machine's cores are shared and one run can be slowed by others)."""
    workdir.mkdir(exist_ok=True)
    timings = []
    for _ in range(2):
        start = time.monotonic()
        run_snakemake("-n", *config_args(workdir), cwd=workdir, timeout=300)
        timings.append(time.monotonic() - start)
    return min(timings)


def left_behind_config() -> bool:
    """/etc/slurm/slurm.conf is one that start_cluster.sh wrote."""
    with contextlib.suppress(OSError):
        return "ClusterName=iftforget-test" in SLURM_CONF.read_text().splitlines()
    return False


@dataclass
class MachineBefore:
    footprint: dict[str, str]
    daemons: dict[int, str]
    noop_seconds: float
    cluster_ran: bool = False


@pytest.fixture(scope="module")
def machine_before(pytestconfig, tmp_path_factory) -> MachineBefore:
    """The machine before any test cluster starts, with SLURM and munge installed (the installed packages stay)."""
    if missing_binaries():
        install_system_packages(pytestconfig, SLURM_PACKAGES, "single-node SLURM cluster for tests/test_slurm.py")
    if os.geteuid() == 0 and (CLUSTER_DIR.exists() or left_behind_config()):
        # Left by a killed run, or by an earlier version of these scripts (which kept /etc/slurm/slurm.conf): it
        # would slow down the "before" measurement and then disappear with the cluster below.
        warnings.warn("stopping a SLURM test cluster left behind by an earlier run (tests/slurm/stop_cluster.sh)")
        subprocess.run(["bash", str(CLUSTER_SCRIPTS / "stop_cluster.sh")], check=True, timeout=300)
    return MachineBefore(footprint(), daemon_pids(), noop_dry_run_seconds(tmp_path_factory.mktemp("noop")))


def cluster_answers() -> bool:
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def running_cluster(before: MachineBefore):
    """The single-node cluster, running inside the block and stopped after it, also when the block fails."""
    if cluster_answers() and not CLUSTER_DIR.exists():
        yield  # a cluster of this machine's own: used as it is, and left alone
        return
    started = subprocess.run(["bash", str(CLUSTER_SCRIPTS / "start_cluster.sh")], capture_output=True, text=True,
                             timeout=300)
    if started.returncode == CANNOT_RUN:  # it changed nothing
        pytest.skip(f"the SLURM test cluster cannot run here: {started.stderr.strip()}")
    try:
        assert started.returncode == 0, f"the SLURM test cluster did not come up:\n{started.stdout}\n{started.stderr}"
        before.cluster_ran = True
        yield
    finally:
        stopped = subprocess.run(["bash", str(CLUSTER_SCRIPTS / "stop_cluster.sh")], capture_output=True, text=True,
                                 timeout=300)
        assert stopped.returncode == 0, f"the SLURM test cluster did not stop:\n{stopped.stdout}\n{stopped.stderr}"


@pytest.fixture
def slurm_cluster(machine_before):
    with running_cluster(machine_before):
        yield


def cpus_per_node() -> int:
    listing = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=True).stdout
    return int(listing.split()[0])


def slurm_job(jobid: str) -> dict[str, str]:
    """What SLURM holds about a job (`scontrol show job`; finished jobs stay for MinJobAge, an hour here)."""
    shown = subprocess.run(["scontrol", "show", "job", "--oneliner", jobid], capture_output=True, text=True,
                           check=True, timeout=30).stdout
    return dict(field.split("=", 1) for field in shown.split() if "=" in field)


def minutes(limit: str) -> int:
    """A SLURM time limit ([days-]hours:minutes:seconds) in minutes."""
    days, _, clock = limit.rpartition("-")
    hours, mins, _ = map(int, clock.split(":"))
    return (int(days or 0) * 24 + hours) * 60 + mins


def expected_size(rule: str, config: dict) -> tuple[int, int]:
    """(runtime in minutes, mem_mb) a job of `rule` asks for: from the config for training and evaluation jobs,
    from the workflow profile for the light ones."""
    if rule in CONFIG_SIZED_RULES:
        block = config["resources"]["eval" if rule == "eval" else "train"]
    else:
        block = yaml.safe_load(WORKFLOW_PROFILE.read_text())["set-resources"][rule]
    return block["runtime"], block["mem_mb"]


def test_smoke_grid_runs_as_slurm_jobs_through_the_slurm_profile(slurm_cluster, tmp_path: Path, monkeypatch):
    config_home = tmp_path / "config-home"
    install_profile("slurm", config_home)
    (tmp_path / "site-config").mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "site-config"))
    workdir = tmp_path / "run"
    workdir.mkdir()

    result = run_snakemake(
        "--profile", "slurm", *config_args(workdir, JOB_SIZES, name="job-sizes"),
        *POLL_FOR_A_CLUSTER_WITHOUT_ACCOUNTING,
        # Rules asking for more threads than the test node has (plot_figures: 2) would pend forever on SLURM,
        # which, unlike local runs, does not scale threads down to the cores there are.
        "--max-threads", str(cpus_per_node()),
        cwd=workdir, timeout=1200,
    )
    log = result.stdout + result.stderr

    assert f"Using profiles slurm and workflow specific profile {REPO / 'profiles' / 'default'} " in log, log[:2000]
    config = smoke_config(JOB_SIZES)
    grid = Grid(config)
    expected = [*grid.eval_files(), grid.summary_file()]
    missing = [path for path in expected if not (workdir / path).is_file()]
    assert not missing, f"missing after the SLURM run: {missing}\n{log[-4000:]}"
    # Every job but the `all` target went through sbatch, none ran on the submitting host.
    job_stats = log.split("Job stats:", 1)[1]
    total_jobs = int(re.search(r"^total\s+(\d+)$", job_stats, flags=re.MULTILINE).group(1))
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+)/", log)
    assert len({job for job, _, _ in submitted}) == total_jobs - 1, log[-4000:]
    assert "Falling back to 'sacct'" not in log
    # What each job got from SLURM is what the workflow asked for: training and eval jobs their config's runtime and
    # memory, the light jobs those of profiles/default (the cluster profile names neither).
    got = {}
    for _, slurm_jobid, rule in submitted:
        job = slurm_job(slurm_jobid)
        assert job["Comment"].startswith(f"rule_{rule}"), job
        got[slurm_jobid] = (rule, minutes(job["TimeLimit"]), int(job["MinMemoryNode"].removesuffix("M")))
    wanted = {jobid: (rule, *expected_size(rule, config)) for jobid, (rule, _, _) in got.items()}
    assert got == wanted
    assert {"pretrain", "ift", "eval", "world"} <= {rule for rule, _, _ in got.values()}


def test_the_machine_is_left_as_it_was_found(machine_before: MachineBefore, tmp_path: Path):
    """After the SLURM test (or, run alone, after a cluster started and stopped here): nothing of the cluster is left,
    and Snakemake starts as fast as before it."""
    if not machine_before.cluster_ran:
        with running_cluster(machine_before):
            pass

    left = footprint()
    added = sorted(left.keys() - machine_before.footprint.keys())
    removed = sorted(machine_before.footprint.keys() - left.keys())
    changed = sorted(path for path in left.keys() & machine_before.footprint.keys()
                     if left[path] != machine_before.footprint[path])
    started = {pid: name for pid, name in daemon_pids().items() if machine_before.daemons.get(pid) != name}
    after = noop_dry_run_seconds(tmp_path / "noop")
    # All at once, so that a failure shows the cause (e.g. a slurm.conf left behind) next to its cost.
    problems = [
        *(f"added: {path}" for path in added), *(f"removed: {path}" for path in removed),
        *(f"changed: {path}" for path in changed), *(f"still running: {name} ({pid})" for pid, name in started.items()),
    ]
    if after > 2 * machine_before.noop_seconds:
        problems.append(f"`snakemake -n` took {after:.1f} s after the SLURM test, {machine_before.noop_seconds:.1f} s "
                        "before it")
    assert not problems, "\n".join(problems)
