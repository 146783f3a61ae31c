"""Security: no remote code runs unless the config turns it on, a hub token comes only from the environment and
is written nowhere, and a run writes nothing outside its working directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SECRET, adapter_options, config_args, run_snakemake, shell_commands

pytestmark = pytest.mark.workflow


def dry_run_commands(workdir: Path, overrides: dict | None = None) -> str:
    workdir.mkdir()
    result = run_snakemake("-n", "-p", "--cores", "1", *config_args(workdir, overrides))
    return result.stdout + result.stderr


def remote_code_asked(output: str) -> dict[str, list[bool]]:
    """Whether each training and evaluation job asks transformers or lm-eval to run remote code, by adapter."""
    asked: dict[str, list[bool]] = {}
    for options in map(adapter_options, shell_commands(output)):
        if "--job" in options and "trust_remote_code" in options["--job"]:
            asked.setdefault(options["adapter"], []).append(options["--job"]["trust_remote_code"])
    return asked


def test_remote_code_is_off_unless_the_config_turns_it_on(tmp_path):
    default = dry_run_commands(tmp_path / "default")
    asked = remote_code_asked(default)
    assert set(asked) == {"ift", "restore", "eval"}, "the commands were printed"
    assert not any(any(values) for values in asked.values()), "no job asks transformers or lm-eval to run remote code"
    assert "trust_remote_code\": true" not in default and "--trust-remote-code" not in default
    # The check can fail: turning it on shows up in the training and evaluation jobs.
    opted_in = remote_code_asked(dry_run_commands(tmp_path / "opted-in", {"trust_remote_code": True}))
    assert set(opted_in) == {"ift", "restore", "eval"} and all(all(values) for values in opted_in.values()), opted_in


def test_a_declared_token_variable_that_is_unset_stops_the_run_before_any_job(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    token_config = tmp_path / "token.yaml"
    token_config.write_text(yaml.safe_dump({"hub_token_env": "HF_TOKEN"}))
    result = run_snakemake("-n", "--cores", "1", "--configfile", str(REPO / "config.yaml"),
                           str(REPO / "presets" / "smoke.yaml"), str(token_config), "--directory", str(tmp_path),
                           check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "HF_TOKEN" in output, output[-3000:]
    assert "Job stats" not in output, "no job was scheduled"


@pytest.fixture(scope="session")
def hub_job(smoke_root) -> tuple[Path, Path, Path, str]:
    """The shared smoke run, which runs as a hub job would (conftest.run_smoke_as_a_hub_job): the token set, HOME
    and TMPDIR empty. Returns (working directory, HOME, TMPDIR, Snakemake's output)."""
    return (smoke_root / "work", smoke_root / "home", smoke_root / "tmp",
            (smoke_root / "snakemake-output.txt").read_text())


def test_the_hub_token_is_written_nowhere(hub_job):
    workdir, home, tmp, output = hub_job
    assert SECRET not in output, "snakemake's output shows the token"
    leaks = [path for folder in (workdir, home, tmp) for path in folder.rglob("*")
             if path.is_file() and SECRET.encode() in path.read_bytes()]
    assert leaks == [], "the token appears in logs, results or snakemake's metadata"
    assert any((workdir / ".snakemake" / "metadata").iterdir()), "the search covered snakemake's metadata"


def test_nothing_is_written_outside_the_working_directory(hub_job):
    workdir, home, tmp, _ = hub_job
    # Snakemake itself (not a job) creates its empty source-cache folders under ~/.cache/snakemake at start-up.
    snakemake_cache = (".cache", "snakemake")
    written = [str(p) for p in tmp.rglob("*")] + [
        str(p) for p in home.rglob("*")
        if not (p.is_dir() and p.relative_to(home).parts[:2] == snakemake_cache[: len(p.relative_to(home).parts)])
    ]
    assert written == [], "a run writes only below its working directory"
    written_in_workflow = json.loads((workdir.parent / "written-in-workflow.json").read_text())
    assert written_in_workflow == [], "the run wrote into the workflow's folder (bytecode of its scripts?)"
    cache = workdir / "results" / "smoke" / "cache" / "datasets"
    assert cache.is_dir(), "the datasets cache is in the working directory"
