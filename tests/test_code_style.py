"""The code's form, checked with the tools: Snakemake files formatted with snakefmt and linted by Snakemake,
Python within 120 characters a line and without unused imports or undefined names (ruff, pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow

TOOLS = Path(sys.executable).parent


def test_snakemake_files_are_formatted_with_snakefmt():
    files = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    result = subprocess.run([str(TOOLS / "snakefmt"), "--check", *map(str, files)], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_passes_ruff():
    result = subprocess.run([str(TOOLS / "ruff"), "check", "workflow_scripts", "tests", "benchmarks"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_is_clean():
    result = run_snakemake("--lint", "--cores", "1", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for rule" not in result.stdout + result.stderr
