"""Snakemake runs for the tests, each in a process forked from one that has already imported Snakemake.

A `snakemake` command spends about 2.5 s of a 3.7 s dry run importing Snakemake and the workflow's modules, and many of
the suite's tests run it. Here a multiprocessing fork server imports them once; each run is a fresh fork
of it that calls Snakemake's own command-line entry point (`snakemake.cli.main`, what the `snakemake` script calls) in
the given directory and environment, with its output going to files, so a run is still a separate process with its own
exit status, output and state, and nothing of one run is seen by the next. What a module computes when it is imported is
that of the server's start, e.g. the SLURM plugin's `scontrol` probe (tests/test_slurm.py times that probe by itself).
Under pytest-xdist each worker process has its own server."""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.util
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

# Imported once by the fork server (the workflow's library is installed, README's install command).
PRELOADED = ["snakemake.cli", "snakemake.api", "snakemake.workflow", "iftforget.config", "iftforget.grid",
             "iftforget.analysis.plan", "iftforget.paths", __name__]

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOADED)
# The server's socket and the runs' output files go to the temporary folder of the session's start, not to one a
# test sets for a run (tests/test_security.py checks that a run writes nothing into its own TMPDIR).
_SCRATCH = tempfile.gettempdir()
multiprocessing.util.get_temp_dir()


def start_server() -> None:
    """Start the fork server now, in the test session's own environment (conftest calls this; the server imports
    this module too). A server started by the first run would keep the variables a test had set for that run (a
    TMPDIR to check, for one) as its own, and hand its temporary folders to every later run."""
    multiprocessing.forkserver.ensure_running()


def _snakemake_main(args: list[str], cwd: str, env: dict[str, str], umask: int, stdout: str, stderr: str) -> None:
    """In the forked process: become `snakemake ARGS` run in `cwd` with `env`, writing to the two files."""
    # A process group of its own, as a shell gives a command: a timeout then stops the run's jobs with it.
    os.setsid()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None  # the server fixed it at its start: the run's own TMPDIR applies, as in a fresh process
    os.umask(umask)
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = ["snakemake", *args]
    from snakemake.cli import main

    try:
        main(args)  # exits through SystemExit: multiprocessing turns its code into the process's exit status
    finally:
        # What a `snakemake` process does when it exits (e.g. removing its runtime source cache from ~/.cache):
        # multiprocessing ends a child with os._exit, which skips the exit handlers.
        atexit._run_exitfuncs()


def run(command: Sequence[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """`command` (a `snakemake` executable and its arguments) as `subprocess.run(..., capture_output=True,
    text=True, timeout=timeout)` would run it, but forked from the preloaded server."""
    with tempfile.TemporaryDirectory(prefix="snakemake-run-", dir=_SCRATCH) as scratch:
        stdout, stderr = Path(scratch, "stdout"), Path(scratch, "stderr")
        umask = os.umask(0)
        os.umask(umask)
        process = _CONTEXT.Process(target=_snakemake_main,
                                   args=(list(command[1:]), str(cwd), dict(env), umask, str(stdout), str(stderr)))
        process.start()
        process.join(timeout)
        if process.is_alive():
            # The whole group: killing Snakemake alone leaves its running jobs' shells orphaned and writing.
            os.killpg(process.pid, signal.SIGKILL)
            process.join()
            raise subprocess.TimeoutExpired(list(command), timeout, stdout.read_text(errors="replace"),
                                            stderr.read_text(errors="replace"))
        return subprocess.CompletedProcess(list(command), process.exitcode, stdout.read_text(errors="replace"),
                                           stderr.read_text(errors="replace"))
