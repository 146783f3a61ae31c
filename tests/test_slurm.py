"""The smoke grid through `snakemake --profile slurm` on a real single-node SLURM cluster on this machine, and the
machine left as the tests found it.

The cluster profile is installed by name into a temporary user config folder (XDG_CONFIG_HOME) with the command of
docs/clusters.md, and the workflow profile (profiles/default) is loaded by Snakemake itself. Debian's slurm-wlm and
munge are installed first where they are missing (announced on the terminal; docs/testing.md). The cluster is
started by tests/slurm/start_cluster.sh and stopped by tests/slurm/stop_cluster.sh after the test, pass or fail;
the last test checks that nothing of it is left and that Snakemake's start is not slowed (the SLURM plugin asks
`scontrol` at every start, which waits ~9 s for a controller that a left-behind slurm.conf names).

Skipped only where SLURM cannot be installed here (not root, or no working apt-get). The grid is the smoke grid
with one IFT step (SLURM_GRID): of its 16 jobs, the light ones (the Snakefile's localrules) run where Snakemake runs;
the 4 training jobs (pre-training, IFT, restoration, control) are a SLURM job each and the 4 evaluations go 3 to a
SLURM job (profiles/default's group-components): 6 submissions. Each SLURM job starts Snakemake twice (batch step
and srun step), so the run is slower than a local one. A second test requeues and then cancels one short training
job on the cluster: SLURM restarts it under the same job id, Snakemake retries the cancelled one with more time and
memory, and the result is that of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SNAKEMAKE, config_args, install_system_packages, job_counts, run_snakemake, smoke_config
from iftforget.analysis.plan import AnalysisPlan
from iftforget.grid import Grid
from iftforget.paths import MODEL_PATTERNS
from test_profiles import CONFIG_SIZED_RULES, LOCAL_LIGHT_RULES, WORKFLOW_PROFILE, evals_per_submission, install_profile
from test_reliability import assert_same_weights, wait_for

pytestmark = pytest.mark.system

CLUSTER_SCRIPTS = REPO / "tests" / "slurm"
CANNOT_RUN = 3  # start_cluster.sh's exit status when the cluster cannot run here (not root, packages missing)
# start_cluster.sh's own folder (its default): state, spool, logs, pid files, munge key and socket.
CLUSTER_DIR = Path(os.environ.get("CLUSTER_DIR", "/var/tmp/iftforget-test-cluster"))
SLURM_CONF = Path("/etc/slurm/slurm.conf")
SLURM_PACKAGES = ["slurm-wlm", "munge"]
SLURM_BINARIES = ["slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "srun", "munged", "munge"]
DAEMONS = {"slurmctld", "slurmd", "slurmstepd", "munged"}
# How much slower the plugin's start-up probe may answer after the test than before it: a left-behind slurm.conf
# makes it wait ~9 s for the controller it names.
STALL_S = 3.0
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
# The smoke grid with one IFT step: every rule of the grid still runs, with two SLURM jobs fewer than with the
# preset's two steps (each SLURM job costs two Snakemake starts and a training or eval start-up on this machine).
SLURM_GRID = {**JOB_SIZES, "ift": {"steps": [10], "total_steps": 10}}


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


def probe_seconds() -> float:
    """The fastest of three runs of the SLURM plugin's start-up probe (`scontrol show config`, which the plugin runs
    each time Snakemake imports it): quick, with or without SLURM, unless a slurm.conf names a controller that is
    gone, when it waits ~9 s. Timed on its own rather than as a whole `snakemake -n`, whose time depends on what
    else the machine runs (the suite runs its tests in two processes side by side)."""
    timings = []
    for _ in range(3):
        start = time.monotonic()
        subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=120)
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
    probe_seconds: float
    cluster_ran: bool = False


@pytest.fixture(scope="module")
def machine_before(pytestconfig) -> MachineBefore:
    """The machine before any test cluster starts, with SLURM and munge installed (the installed packages stay)."""
    if missing_binaries():
        install_system_packages(pytestconfig, SLURM_PACKAGES, "single-node SLURM cluster for tests/test_slurm.py")
    if os.geteuid() == 0 and (CLUSTER_DIR.exists() or left_behind_config()):
        # Left by a killed run, or by an earlier version of these scripts (which kept /etc/slurm/slurm.conf): it
        # would slow down the "before" measurement and then disappear with the cluster below.
        warnings.warn("stopping a SLURM test cluster left behind by an earlier run (tests/slurm/stop_cluster.sh)")
        subprocess.run(["bash", str(CLUSTER_SCRIPTS / "stop_cluster.sh")], check=True, timeout=300)
    return MachineBefore(footprint(), daemon_pids(), probe_seconds())


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


def cluster_jobs() -> dict[str, dict[str, str]]:
    """Every job the test cluster was given, by job id: the submissions as SLURM counts them (the cluster starts
    afresh for each test and keeps finished jobs for MinJobAge; a requeued job keeps its id)."""
    listed = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i"], capture_output=True, text=True,
                            check=True, timeout=30).stdout
    return {jobid: slurm_job(jobid) for jobid in listed.split()}


def rule_of(job: dict[str, str]) -> str:
    """The rule of a SLURM job, from the comment the plugin gives it (rule_<rule>[_wildcards_...]); for a group of
    jobs it is <group>_<rule>, e.g. eval_eval."""
    return re.match(r"rule_(\w+?)(?:_wildcards_|$)", job["Comment"]).group(1)


def minutes(limit: str) -> int:
    """A SLURM time limit ([days-]hours:minutes:seconds) in minutes."""
    days, _, clock = limit.rpartition("-")
    hours, mins, _ = map(int, clock.split(":"))
    return (int(days or 0) * 24 + hours) * 60 + mins


def size(job: dict[str, str]) -> tuple[int, int, int]:
    """(runtime in minutes, memory in MB, CPUs per task) that SLURM gave a job."""
    return minutes(job["TimeLimit"]), int(job["MinMemoryNode"].removesuffix("M")), int(job["CPUs/Task"])


def expected_size(rule: str, config: dict) -> tuple[int, int, int]:
    """(runtime in minutes, mem_mb, threads) a first attempt of a submitted job of `rule` asks for: from the config
    for training and evaluation jobs, from the workflow profile for the submitted light ones."""
    stages = Grid(config).stages
    threads = config["eval"]["threads"] if rule == "eval" else stages.stage_threads(rule.removesuffix("_control"))
    if rule in CONFIG_SIZED_RULES:
        block = config["resources"]["eval" if rule == "eval" else "train"]
    else:
        block, threads = yaml.safe_load(WORKFLOW_PROFILE.read_text())["set-resources"][rule], 1
    return block["runtime"], block["mem_mb"], threads


def install_slurm_profile(tmp_path: Path, monkeypatch) -> None:
    """The slurm profile installed by name with the documented command, in a user config folder of this test."""
    config_home = tmp_path / "config-home"
    install_profile("slurm", config_home)
    (tmp_path / "site-config").mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "site-config"))


def test_smoke_grid_runs_as_slurm_jobs_through_the_slurm_profile(slurm_cluster, tmp_path: Path, monkeypatch):
    install_slurm_profile(tmp_path, monkeypatch)
    workdir = tmp_path / "run"
    workdir.mkdir()

    result = run_snakemake(
        "--profile", "slurm", *config_args(workdir, SLURM_GRID, name="slurm-grid"),
        *POLL_FOR_A_CLUSTER_WITHOUT_ACCOUNTING,
        # A job asking for more threads than the test node has would pend forever on SLURM, which, unlike local
        # runs, does not scale threads down to the cores there are.
        "--max-threads", str(cpus_per_node()),
        cwd=workdir, timeout=1200,
    )
    log = result.stdout + result.stderr

    assert f"Using profiles slurm and workflow specific profile {REPO / 'profiles' / 'default'} " in log, log[:2000]
    config = smoke_config(SLURM_GRID)
    grid = Grid(config)
    expected = [*grid.files.eval_files(), grid.files.summary_file(), *AnalysisPlan(grid, config["analysis"]).targets()]
    missing = [path for path in expected if not (workdir / path).is_file()]
    assert not missing, f"missing after the SLURM run: {missing}\n{log[-4000:]}"
    assert "Falling back to 'sacct'" not in log

    # The submissions, as SLURM counts them: one per training job, one per `evals_per_submission()` evaluations
    # (6 for this grid), none for the light jobs, which ran where Snakemake runs (they made the outputs above).
    jobs = cluster_jobs()
    counts = job_counts(log)
    assert LOCAL_LIGHT_RULES & counts.keys() and "eval" in counts, counts
    eval_submissions = math.ceil(counts["eval"] / evals_per_submission())
    training = {rule: n for rule, n in counts.items() if rule in CONFIG_SIZED_RULES - {"eval"}}
    assert Counter(rule_of(job) for job in jobs.values()) == {**training, "eval_eval": eval_submissions}, jobs
    # Snakemake's own account of what it submitted agrees.
    assert sorted(re.findall(r" has been submitted with SLURM jobid (\d+) ", log)) == sorted(jobs), log[-4000:]

    # What each SLURM job got is what the workflow asked for: training jobs their config's runtime, memory and
    # threads; a submission of evaluations, which runs them one after another, one eval's memory and CPUs and the
    # sum of their runtimes (not N times the memory and CPUs and one runtime, as for jobs side by side).
    eval_runtime, eval_mem, eval_threads = expected_size("eval", config)
    evals_run = 0
    for jobid, job in jobs.items():
        got = size(job)
        if rule_of(job) == "eval_eval":
            assert got[1:] == (eval_mem, eval_threads) and got[0] % eval_runtime == 0, (jobid, got)
            evals_run += got[0] // eval_runtime
        else:
            assert got == expected_size(rule_of(job), config), (jobid, rule_of(job), got)
    assert evals_run == counts["eval"]


# One short training job with in-job saves every few steps, long enough to be caught between two saves twice.
REQUEUE_OVERRIDES = {**JOB_SIZES, "training": {"save_every_steps": 5}, "pretrain": {"steps": 300}}


def saved_steps(in_progress: Path) -> list[int]:
    """The steps of a training job's complete in-job saves."""
    return [int(p.parent.name.split("-")[1]) for p in in_progress.glob("checkpoint-*/trainer_state.json")]


def text_of(path: Path) -> str:
    """The text of a file, empty while it does not exist."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_text()
    return ""


def running_job_of(rule: str) -> str | None:
    """The id of the job of `rule` that runs on the cluster now, if any."""
    return next((jobid for jobid, job in cluster_jobs().items()
                 if rule_of(job) == rule and job["JobState"] == "RUNNING"), None)


def test_requeued_then_cancelled_training_job_resumes_to_the_uninterrupted_result(slurm_cluster, tmp_path: Path,
                                                                                  monkeypatch):
    """A preempted job: SLURM requeues it (the slurm profile's slurm-requeue; the test cluster's JobRequeue=0 allows
    it for no other job) and runs it again under the same id while Snakemake waits. A job killed by the cluster:
    Snakemake retries it (retries: 1) as a new SLURM job with 1.5 times the wall time and memory. Both times the
    job resumes from its newest in-job save, and the model is the one an uninterrupted run trains."""
    config = smoke_config(REQUEUE_OVERRIDES)
    grid = Grid(config)
    base = grid.layout.path("model", model=grid.axes.base(config["base_models"][0]["name"], 0))
    straight, workdir = tmp_path / "straight", tmp_path / "run"
    straight.mkdir()
    workdir.mkdir()
    run_snakemake(base, "--cores", "1", *config_args(straight, REQUEUE_OVERRIDES))
    # The same world and tokenizer (copied with their times, so they are up to date): only pre-training runs.
    shutil.copytree(straight / grid.files.world_dir(0), workdir / grid.files.world_dir(0))
    install_slurm_profile(tmp_path, monkeypatch)

    log = tmp_path / "snakemake.log"
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    with log.open("w") as handle:
        process = subprocess.Popen(
            [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), base, "--profile", "slurm",
             *config_args(workdir, REQUEUE_OVERRIDES), *POLL_FOR_A_CLUSTER_WITHOUT_ACCOUNTING],
            cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )
    in_progress = workdir / f"{base}.inprogress"
    base_identity = MODEL_PATTERNS["base"].format(model=config["base_models"][0]["name"], replicate=0)
    job_log = workdir / config["results_dir"] / "logs" / "pretrain" / f"{base_identity}.log"
    try:
        # Preemption: once the running job has saved, SLURM requeues it (`scontrol requeue` is what a preemption with
        # PreemptMode=REQUEUE does to a job), and it goes back to the queue under its id.
        wait_for(lambda: saved_steps(in_progress) and running_job_of("pretrain"), process, "a save of the job", log)
        jobid = running_job_of("pretrain")
        subprocess.run(["scontrol", "requeue", jobid], check=True, timeout=30)
        wait_for(lambda: slurm_job(jobid)["JobState"] == "PENDING", process, "the job back in the queue", log)
        # SLURM lets a requeued job start again only after the job credential's lifetime (slurm.conf's AuthInfo
        # cred_expire, 120 s by default; Reason=BeginTime meanwhile). Moving its start time to now, as an admin can,
        # saves the test those two minutes; `scontrol release` would not: the job is not held.
        held = slurm_job(jobid)
        held_back = datetime.fromisoformat(held["EligibleTime"]) - datetime.fromisoformat(held["SubmitTime"])
        assert held_back.total_seconds() >= 120, held
        subprocess.run(["scontrol", "update", f"JobId={jobid}", "StartTime=now"], check=True, timeout=30)
        # The job starts again from the beginning of its batch script: Snakemake (the same run, still waiting for
        # the job) sees no failure, and the rule resumes from its newest in-job save (only a resumed run logs this:
        # the first one found none) and saves again before it is cancelled.
        wait_for(lambda: "resuming this job's own save" in text_of(job_log), process, "the requeued job", log)
        requeued_log = text_of(job_log)
        resumed_at = max(saved_steps(in_progress), default=0)
        wait_for(lambda: max(saved_steps(in_progress), default=0) > resumed_at, process,
                 "a save of the requeued job", log)
        # Killed by the cluster (as for time or memory): the job fails, and Snakemake retries it.
        before_cancel = max(saved_steps(in_progress))
        subprocess.run(["scancel", jobid], check=True, timeout=30)
        assert process.wait(timeout=900) == 0, log.read_text()[-4000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert "resuming this job's own save" in requeued_log, "the requeued job continues from its save"
    assert before_cancel < config["pretrain"]["steps"], "the job was cancelled mid-way"
    jobs = cluster_jobs()
    assert sorted(rule_of(job) for job in jobs.values()) == ["pretrain", "pretrain"], jobs
    first, retry = jobs[jobid], next(job for other, job in jobs.items() if other != jobid)
    assert (first["Requeue"], first["Restarts"], first["JobState"]) == ("1", "1", "CANCELLED"), first
    assert retry["JobState"] == "COMPLETED", retry
    runtime, mem_mb, threads = expected_size("pretrain", config)
    growth = config["resources"]["retry_growth"]
    assert growth > 1
    assert size(first) == (runtime, mem_mb, threads)
    assert size(retry) == (math.ceil(growth * runtime), math.ceil(growth * mem_mb), threads), "a retry asks for more"
    assert "resuming this job's own save" in job_log.read_text(), "the retry continues from the cancelled job's save"
    assert not in_progress.exists()
    assert_same_weights(straight / base, workdir / base)


def test_the_machine_is_left_as_it_was_found(machine_before: MachineBefore):
    """After the SLURM test (or, run alone, after a cluster started and stopped here): nothing of the cluster is left,
    and the SLURM plugin's start-up probe answers as fast as before it."""
    if not machine_before.cluster_ran:
        with running_cluster(machine_before):
            pass

    left = footprint()
    added = sorted(left.keys() - machine_before.footprint.keys())
    removed = sorted(machine_before.footprint.keys() - left.keys())
    changed = sorted(path for path in left.keys() & machine_before.footprint.keys()
                     if left[path] != machine_before.footprint[path])
    started = {pid: name for pid, name in daemon_pids().items() if machine_before.daemons.get(pid) != name}
    after = probe_seconds()
    # All at once, so that a failure shows the cause (e.g. a slurm.conf left behind) next to its cost.
    problems = [
        *(f"added: {path}" for path in added), *(f"removed: {path}" for path in removed),
        *(f"changed: {path}" for path in changed), *(f"still running: {name} ({pid})" for pid, name in started.items()),
    ]
    if after > machine_before.probe_seconds + STALL_S:
        problems.append(f"`scontrol show config` (the SLURM plugin's probe at every Snakemake start) took "
                        f"{after:.1f} s after the SLURM test, {machine_before.probe_seconds:.1f} s before it")
    assert not problems, "\n".join(problems)
