"""The scheduler-limit benchmark (benchmarks/scheduler_limit.py) reads a process's own CPU time from /proc: the number
that docs/speed.md compares between Snakemake's submission limits. It must grow with the process's own work (not its
children's) and say None once the process is gone, so that the sampling loop keeps the last value it read."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))  # the benchmark is a script, not part of the library
from scheduler_limit import process_cpu_seconds  # noqa: E402

pytestmark = pytest.mark.unit


def test_cpu_seconds_grow_with_the_process_own_work_and_are_none_once_it_is_gone():
    before = process_cpu_seconds(os.getpid())
    started = time.process_time()
    while time.process_time() - started < 0.3:
        pass
    after = process_cpu_seconds(os.getpid())
    assert before is not None and after is not None
    assert after - before >= 0.2, (before, after)

    child = subprocess.Popen(["true"])
    child.wait()
    assert process_cpu_seconds(child.pid) is None
