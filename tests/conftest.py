"""Shared test setup: no hub access, and a smoke run of the whole workflow shared by the tests that need one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Nothing may be downloaded in tests: the real loading code runs against local stand-ins.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def run_snakemake(*args: str, cwd: Path = REPO, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the workflow's Snakefile with the given arguments; output captured for the assertion messages."""
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), *args]
    # Jobs run `python`: the interpreter running the tests, whether or not its environment is activated.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The smoke preset run end to end once, in a fresh working directory; returns that directory."""
    workdir = tmp_path_factory.mktemp("smoke")
    run_snakemake(
        "--cores", "2", "--configfile", str(REPO / "config.yaml"), str(REPO / "presets" / "smoke.yaml"),
        "--directory", str(workdir), timeout=1200,
    )
    return workdir
