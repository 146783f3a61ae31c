"""The patches of other libraries' internals (iftforget.library_patches) check the release they were written
against: the pinned releases pass, and another release stops the job, or Snakemake before any job, with a message
naming the patch."""

from __future__ import annotations

import os
import subprocess
from importlib.metadata import version

import pytest

from conftest import REPO, SMOKE_FILES, SNAKEMAKE
from iftforget.library_patches import CHECKED_RELEASES, check_release

pytestmark = pytest.mark.workflow

DISTRIBUTIONS = {"lm_eval": "lm-eval", "accelerate": "accelerate", "snakemake": "snakemake"}


@pytest.mark.parametrize("package", sorted(CHECKED_RELEASES))
def test_the_pinned_release_passes_and_another_one_names_the_patch(package):
    check_release(package)
    pinned = version(DISTRIBUTIONS[package])
    assert pinned.startswith(CHECKED_RELEASES[package] + ".")
    major, minor = CHECKED_RELEASES[package].split(".")[:2]
    moved = f"{major}.{int(minor) + 1}.0"
    with pytest.raises(RuntimeError, match=rf"library_patches patches {package}: .* this is {package} {moved}\."):
        check_release(package, moved)


def test_snakemake_stops_before_any_job_when_its_release_is_not_the_checked_one(tmp_path):
    """The Snakefile's hooks rely on Snakemake's scheduler: with another release the run stops while the DAG is
    built, naming the patch, and writes nothing."""
    sitecustomize = tmp_path / "site" / "sitecustomize.py"
    sitecustomize.parent.mkdir()
    # Every Python of the run (Snakemake itself) reports another Snakemake release.
    sitecustomize.write_text(
        "import importlib.metadata as m\n"
        "_real = m.version\n"
        "m.version = lambda name: '99.0.0' if name == 'snakemake' else _real(name)\n"
    )
    # A fresh process (not the tests' fork server, whose Python has already started), so that it reads the file.
    env = {**os.environ, "PYTHONPATH": str(sitecustomize.parent)}
    result = subprocess.run([SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "-n", "--cores", "1", "--configfile",
                             *SMOKE_FILES, "--directory", str(tmp_path / "run")], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "library_patches patches snakemake" in result.stdout + result.stderr
    assert not (tmp_path / "run" / "results").exists()
