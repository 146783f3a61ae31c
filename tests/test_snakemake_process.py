"""The tests' Snakemake runs (tests/snakemake_process.py) behave as `subprocess.run` of the `snakemake` command: their
own directory, environment, exit status and output, exit handlers that run, a timeout that stops them, and nothing
carried from one run to the next."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

import snakemake_process
from conftest import SNAKEMAKE

pytestmark = pytest.mark.workflow

SNAKEFILE = """
import atexit
import tempfile
from pathlib import Path

# Where Snakemake itself puts its temporary files: the run's TMPDIR, as for a `snakemake` process of its own.
onstart:
    Path("tempdir.txt").write_text(tempfile.gettempdir())

# An exit handler, as Snakemake registers some (removing its runtime source cache): a run's exit runs it.
atexit.register(lambda: Path("exit-handlers-ran").touch())

rule all:
    output:
        "seen.txt",
    shell:
        "echo $MARKER $(pwd) > {output}; echo to-stdout; echo to-stderr >&2"


rule slow:
    output:
        "slow.txt",
    shell:
        "echo $$ > shell.pid; sleep 20; touch {output}"
"""


def snakemake(workdir: Path, *args: str, marker: str = "one", timeout: float = 120) -> subprocess.CompletedProcess:
    (workdir / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "MARKER": marker, "TMPDIR": str(workdir / "tmp")}
    return snakemake_process.run([SNAKEMAKE, "--snakefile", str(workdir / "Snakefile"), "--cores", "1", *args],
                                 cwd=workdir, env=env, timeout=timeout)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    return tmp_path


def test_a_run_has_its_directory_environment_output_and_exit_status(workdir):
    result = snakemake(workdir, "--printshellcmds", marker="first-run")
    assert result.returncode == 0, result.stderr
    assert (workdir / "seen.txt").read_text().split() == ["first-run", str(workdir)]
    assert (workdir / "tempdir.txt").read_text() == str(workdir / "tmp")
    assert "Finished jobid" in result.stderr  # Snakemake's own progress, as the command prints it
    assert "to-stdout" in result.stdout and "to-stderr" in result.stderr  # and its jobs' output
    assert (workdir / "exit-handlers-ran").exists()

    (workdir / "seen.txt").unlink()
    again = snakemake(workdir, marker="second-run")
    assert (workdir / "seen.txt").read_text().split()[0] == "second-run", "each run sees its own environment"

    failed = snakemake(workdir, "no-such-target.txt")
    assert failed.returncode == 1
    assert "no-such-target.txt" in failed.stderr
    assert again.returncode == 0


def running(pid: int) -> bool:
    """Whether process `pid` still runs (a killed process that its parent has not reaped yet does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_a_run_past_its_timeout_is_stopped_with_its_jobs(workdir):
    """The timeout stops the job's shell too: an orphaned shell would write slow.txt after the test looked."""
    with pytest.raises(subprocess.TimeoutExpired):
        snakemake(workdir, "slow.txt", timeout=8)
    shell = int((workdir / "shell.pid").read_text())
    deadline = time.monotonic() + 10
    while running(shell) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(shell), "the job's shell outlived the timeout"
    assert not (workdir / "slow.txt").exists()
