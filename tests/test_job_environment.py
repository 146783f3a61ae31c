"""The environment every job runs in (iftforget.job_environment): a job reads the bytecode that is already there, as
every installed package has it, and writes none, so that its imports cost what they cost outside the workflow and it
writes nothing into the workflow's folder."""

from __future__ import annotations

import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from iftforget.job_environment import export_command, job_environment

pytestmark = pytest.mark.unit


def import_verbosely(module: str, folder: Path, results: str) -> str:
    """Import `module` from `folder` in a Python started in the job environment (as the shell prefix exports it, in
    the folder as working directory); returns Python's account of each import (-v)."""
    inherited = {name: value for name, value in os.environ.items()
                 if name not in {"PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH"}}
    command = f"{export_command(job_environment(results))} exec {sys.executable} -v -c 'import {module}'"
    result = subprocess.run(["bash", "-c", command], cwd=folder, env={**inherited, "PYTHONPATH": str(folder)},
                            capture_output=True, text=True, check=True)
    return result.stderr


def test_a_job_reads_the_bytecode_that_is_there(tmp_path):
    source = tmp_path / "installed_module.py"
    source.write_text("VALUE = 1\n")
    compiled = Path(py_compile.compile(str(source), doraise=True))  # where pip's install puts a package's bytecode
    account = import_verbosely("installed_module", tmp_path, "results")
    assert f"code object from '{compiled}'" in account, account[-2000:]


def test_a_job_writes_no_bytecode(tmp_path):
    (tmp_path / "library_module.py").write_text("VALUE = 1\n")
    account = import_verbosely("library_module", tmp_path, "results")
    assert f"code object from {tmp_path / 'library_module.py'}" in account, "the module was imported from source"
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["library_module.py"], "nothing written"


def test_the_libraries_caches_are_inside_the_results_folder():
    environment = job_environment("results/my run")
    caches = {name: value for name, value in environment.items()
              if name not in {"TOKENIZERS_PARALLELISM", "PYTHONDONTWRITEBYTECODE"}}
    assert set(caches) == {"HF_HOME", "HF_DATASETS_CACHE", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR",
                           "MPLCONFIGDIR"}
    assert all(value.startswith("results/my run/cache/") for value in caches.values()), caches
    exported = subprocess.run(["bash", "-c", f"{export_command(environment)} printf '%s' \"$HF_HOME\""],
                              capture_output=True, text=True, check=True).stdout
    assert exported == environment["HF_HOME"], "a results folder with a space stays one value"
