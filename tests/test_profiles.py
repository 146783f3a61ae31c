"""The profiles: the cluster/machine profiles (profiles/slurm, profiles/local-gpu) are found by name once installed
the documented way, the workflow profile (profiles/default) is loaded by itself on every run, and the two layers
keep to their own settings; the grid's DAG builds under each. GPU slots are exclusive.

The profiles are dry-run on the default config (no cluster and no GPU needed); the real SLURM run is in
tests/test_slurm.py. workflow_scripts/gpu_slots.py is run as the rules run it, as `python -m gpu_slots`.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SNAKEMAKE, evaluated_models_count, job_counts, python_on_path, run_snakemake
from iftforget.config import check_config

pytestmark = pytest.mark.workflow

PROFILES = REPO / "profiles"
WORKFLOW_PROFILE = PROFILES / "default" / "config.yaml"
RULES_OF_THE_GRID = {"world", "tokenizer", "pretrain", "ift", "restore", "restore_control", "eval", "summarize"}
# Rules whose jobs take gpu, runtime and mem_mb from the config (resources.train / resources.eval), and rules that
# run no job of their own (targets). Every other rule is a light CPU job: a localrule (run where Snakemake runs,
# under a cluster executor too), or, if submitted, sized in the workflow profile.
CONFIG_SIZED_RULES = {"pretrain", "ift", "ift_last", "restore", "restore_control", "eval"}
TARGET_RULES = {"all", "base_models", "figures"}
LOCAL_LIGHT_RULES = {"world", "world_fresh_corpus", "tokenizer", "world_ift_data", "prepare_restore_corpus",
                     "summarize", "analyze", "analyze_arm", "forgetting_table", "plot_figures", "residual_limit",
                     "contrast_table"}
# The rules that fetch from the hub run where Snakemake runs (the login node, which has internet; rules/prefetch.smk).
PREFETCH_RULES = {"prefetch", "prefetch_model", "prefetch_task", "prefetch_ift_data", "prefetch_restore_corpus"}
# Settings of the workflow, which apply under any executor: only in profiles/default.
WORKFLOW_KEYS = {"retries", "rerun-incomplete", "keep-going", "latency-wait", "printshellcmds", "set-resources",
                 "set-threads", "group-components", "max-checksum-file-size", "max-jobs-per-timespan"}
# Facts about a cluster or a machine: only in the profiles installed by name. A workflow profile's
# default-resources would replace a site profile's (partition, account) as a whole.
MACHINE_KEYS = {"executor", "jobs", "cores", "resources", "default-resources", "set-resource-scopes",
                "slurm-requeue", "slurm-status-command"}

# How docs/clusters.md installs a profile by name: into the user's Snakemake config folder, where Snakemake looks a
# profile name up (next to the working directory and the site's folder, /etc/xdg/snakemake).
INSTALL_PROFILE = (
    'mkdir -p "${{XDG_CONFIG_HOME:-$HOME/.config}}/snakemake" '
    '&& cp -rn profiles/{name} "${{XDG_CONFIG_HOME:-$HOME/.config}}/snakemake/"'
)


def install_profile(name: str, config_home: Path) -> None:
    """Install profiles/<name> by name with the documented command, into `config_home` as XDG_CONFIG_HOME."""
    subprocess.run(["bash", "-c", INSTALL_PROFILE.format(name=name)], cwd=REPO, check=True, timeout=60,
                   env={**os.environ, "XDG_CONFIG_HOME": str(config_home)})


def isolated_config_folders(config_home: Path) -> dict[str, str]:
    """The environment of a Snakemake run whose user and site config folders are `config_home` and an empty one."""
    site = config_home.parent / f"{config_home.name}-site"
    site.mkdir(exist_ok=True)
    return python_on_path(XDG_CONFIG_HOME=str(config_home), XDG_CONFIG_DIRS=str(site))


def snakemake_in_repo(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """`snakemake ARGS` typed in the repository root, as a user does (no --snakefile)."""
    result = subprocess.run([SNAKEMAKE, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def dry_run(profile: str, workdir: Path, *configfiles: Path) -> str:
    """`snakemake -n --profile <name>` in the repository root, the profile installed by name beforehand."""
    config_home = workdir / "config-home"
    install_profile(profile, config_home)
    result = snakemake_in_repo(
        "-n", "--profile", profile, "--configfile", str(REPO / "config.yaml"), *map(str, configfiles),
        "--directory", str(workdir / "run"), env=isolated_config_folders(config_home),
    )
    return result.stdout + result.stderr


def default_grid_config() -> dict:
    with open(REPO / "config.yaml") as handle:
        config = yaml.safe_load(handle)
    check_config(config)  # fills in the schema's defaults
    return config


def load_profile(path: Path) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def evals_per_submission() -> int:
    """N of the workflow profile's `group-components: [eval=N]`: eval jobs per cluster submission."""
    return int(dict(entry.split("=") for entry in load_profile(WORKFLOW_PROFILE)["group-components"])["eval"])


@pytest.mark.parametrize("profile", ["slurm", "local-gpu"])
def test_profile_installed_by_name_runs_the_default_grid_with_the_workflow_profile(profile, tmp_path):
    output = dry_run(profile, tmp_path)

    assert f"Using profiles {profile} and workflow specific profile profiles/default " in output, output[:2000]
    counts = job_counts(output)
    assert RULES_OF_THE_GRID <= counts.keys(), output[-3000:]
    assert counts["eval"] == evaluated_models_count(default_grid_config())
    if profile == "slurm":
        # The eval jobs go to the cluster N to a submission (the eval rule's group, N from the workflow profile);
        # tests/test_slurm.py counts the submissions on a real cluster. (A local run ignores groups.)
        assert evals_per_submission() > 1
        assert output.count("Group job eval ") == math.ceil(counts["eval"] / evals_per_submission()), output[-3000:]


def test_a_profile_name_is_not_found_before_it_is_installed(tmp_path):
    """The check above can fail: the workflow's profiles/ folder is not where Snakemake looks a profile name up."""
    config_home = tmp_path / "config-home"
    result = snakemake_in_repo("-n", "--profile", "slurm", "--directory", str(tmp_path / "run"), check=False,
                               env=isolated_config_folders(config_home))
    assert result.returncode != 0
    assert "profile directory given (slurm), but no profile.yaml (or config.yaml) found" in result.stderr


@pytest.mark.parametrize("doc", ["README.md", "docs/clusters.md"])
def test_docs_show_the_install_command_the_tests_use(doc):
    text = (REPO / doc).read_text()
    for name in ("slurm", "local-gpu"):
        assert INSTALL_PROFILE.format(name=name) in text, name


def test_a_plain_run_from_anywhere_loads_the_workflow_profile(tmp_path):
    """`snakemake --cores all` gets the workflow's settings without naming a profile, from any working directory."""
    result = run_snakemake("-n", "--cores", "1", "--configfile", str(REPO / "config.yaml"),
                           str(REPO / "presets" / "smoke.yaml"), "--directory", str(tmp_path), cwd=tmp_path)
    output = result.stdout + result.stderr
    assert f"Using workflow specific profile {PROFILES / 'default'} " in output, output[:2000]
    assert "Job stats:" in output


def test_each_profile_keeps_to_its_layer():
    workflow = load_profile(WORKFLOW_PROFILE)
    assert workflow.keys() <= WORKFLOW_KEYS, "the workflow profile names no cluster, executor or machine size"
    assert {"retries", "rerun-incomplete", "keep-going"} <= workflow.keys()
    for name in ("slurm", "local-gpu"):
        installed = load_profile(PROFILES / name / "config.yaml")
        assert installed.keys() <= MACHINE_KEYS, f"profiles/{name} holds settings of the workflow"


def declared_localrules() -> set[str]:
    """The rules named by the `localrules:` directives of the Snakefile and the rule files (one name a line, as
    snakefmt writes it), and those that declare `localrule: True` themselves (a rule defined only for some grids)."""
    names: set[str] = set()
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        text = path.read_text()
        for block in re.findall(r"^localrules:\n((?:    \w+,\n)+)", text, flags=re.MULTILINE):
            names |= set(re.findall(r"\w+", block))
        names |= set(re.findall(r"rule (\w+):\n(?:(?![ \t]*rule )[^\n]*\n)*?[ \t]+localrule: True\n", text))
    assert names, "the Snakefile declares its localrules"
    return names


def test_workflow_profile_sizes_exactly_the_submitted_light_rules(tmp_path):
    """Every rule whose jobs a cluster gets has a wall time and memory: the training and eval rules from the config,
    the light rules that are not localrules from the workflow profile. A localrule needs no size; and Snakemake
    ignores set-resources of a rule that does not exist, so a misspelt name would size nothing."""
    listed = run_snakemake("--list-rules", "--configfile", str(REPO / "config.yaml"), "--directory", str(tmp_path),
                           cwd=tmp_path).stdout
    rules = {line.strip() for line in listed.splitlines() if line.strip() and not line.startswith(" ")}
    assert CONFIG_SIZED_RULES - {"ift_last"} <= rules and TARGET_RULES <= rules, listed
    assert declared_localrules() == LOCAL_LIGHT_RULES | TARGET_RULES | PREFETCH_RULES
    sized = load_profile(WORKFLOW_PROFILE)["set-resources"]
    submitted = rules - CONFIG_SIZED_RULES - TARGET_RULES - LOCAL_LIGHT_RULES - PREFETCH_RULES
    assert sized.keys() == submitted == {"prepare_ift_data"}
    assert all({"runtime", "mem_mb"} <= resources.keys() for resources in sized.values())


def test_slurm_profile_names_partition_and_account_once_and_no_tasks():
    profile = load_profile(PROFILES / "slurm" / "config.yaml")

    assert profile["executor"] == "slurm"
    defaults = dict(entry.split("=", 1) for entry in profile["default-resources"])
    # Partition and account in default-resources (one place, every rule), and nothing of the workflow's: its
    # jobs' sizes come from the config and profiles/default. `tasks` would run a GPU script once per GPU; GPUs
    # never in slurm_extra, which the plugin rejects.
    assert defaults.keys() == {"slurm_partition", "slurm_account", "submission_slot"}
    # One slot per submission, of local scope, taken by every job: Snakemake sizes a group of jobs as the plugin
    # runs it, one job after another (tests/test_slurm.py checks the sizes SLURM got).
    assert defaults["submission_slot"] == "1"
    assert profile["resources"] == ["submission_slot=1"]
    assert profile["set-resource-scopes"] == ["submission_slot=local"]


def test_local_gpu_profile_caps_the_gpus_and_gpu_jobs_claim_a_slot(tmp_path):
    """With a GPU config every training/eval job asks for one GPU and runs through gpu_slots."""
    gpu_config = tmp_path / "gpus.yaml"
    gpu_config.write_text(yaml.safe_dump({"resources": {"train": {"gpus": 1}, "eval": {"gpus": 1}}}))
    profile = load_profile(PROFILES / "local-gpu" / "config.yaml")
    assert profile["resources"]["gpu"] >= 1

    output = dry_run("local-gpu", tmp_path, gpu_config)

    counts = job_counts(output)
    gpu_jobs = sum(counts[rule] for rule in ("pretrain", "ift", "restore", "restore_control", "eval"))
    # printshellcmds comes from the workflow profile.
    assert output.count("python -m gpu_slots --gpus 1 -- ") == gpu_jobs
    assert "--gpus 0" not in output


# --- gpu_slots.py ------------------------------------------------------------------------------------------------

PRINT_DEVICES_AND_WAIT = (
    "import os, sys; print(os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>'), flush=True); sys.stdin.read()"
)


def gpu_slots_command(slots_dir: Path, *command: str, gpus: int = 1, total: int = 2) -> list[str]:
    return [sys.executable, "-m", "gpu_slots", "--gpus", str(gpus), "--total", str(total),
            "--slots-dir", str(slots_dir), "--", *command]


def gpu_slots_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}
    return {**env, **extra}


class HeldClaim:
    """A job under gpu_slots that has printed its CUDA_VISIBLE_DEVICES and holds its slot until `release()`.

    The job blocks reading its stdin, a pipe the test holds: closing the pipe ends the job, so the slot is held
    exactly as long as the test says, with no timing involved.
    """

    def __init__(self, slots_dir: Path, total: int = 2, **env: str):
        self.process = subprocess.Popen(
            gpu_slots_command(slots_dir, sys.executable, "-c", PRINT_DEVICES_AND_WAIT, total=total),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gpu_slots_env(**env),
        )
        # gpu_slots prints nothing on stdout itself: the first line is the job's, once it runs on its slot.
        self.devices = self.process.stdout.readline().strip()
        if not self.devices:
            self.release()
            raise AssertionError(f"the claim did not start its command:\n{self.process.stderr.read()}")

    def release(self) -> int:
        self.process.stdin.close()
        try:
            return self.process.wait(timeout=60)
        finally:
            self.process.stdout.close()
            self.process.stderr.close()


def run_gpu_slots(slots_dir: Path, *command: str, total: int = 2, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(gpu_slots_command(slots_dir, *command, total=total), capture_output=True, text=True,
                          env=gpu_slots_env(**env), stdin=subprocess.DEVNULL, timeout=60)


PRINT_DEVICES = "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>'))"


def test_concurrent_claims_get_disjoint_gpus_and_a_claim_without_a_free_gpu_fails(tmp_path):
    first = HeldClaim(tmp_path)
    try:
        second = HeldClaim(tmp_path)
        try:
            assert {first.devices, second.devices} == {"0", "1"}

            third = run_gpu_slots(tmp_path, sys.executable, "-c", PRINT_DEVICES)

            assert third.returncode != 0
            assert third.stdout == ""  # the command never ran on a GPU that another job holds
            assert "asked for 1 GPU(s) but only 0 of 2 slots" in third.stderr
            assert "--resources gpu=" in third.stderr
        finally:
            assert second.release() == 0
        # A finished job's GPU is free again for the next one.
        freed = run_gpu_slots(tmp_path, sys.executable, "-c", PRINT_DEVICES)
        assert freed.returncode == 0, freed.stderr
        assert freed.stdout.strip() == second.devices
    finally:
        assert first.release() == 0


def test_preset_cuda_visible_devices_is_left_as_it_is(tmp_path):
    """Under SLURM (or a user's CUDA_VISIBLE_DEVICES) the command runs unchanged and claims no slot."""
    held = HeldClaim(tmp_path, total=1, CUDA_VISIBLE_DEVICES="3")
    try:
        assert held.devices == "3"
        # The machine's only slot is still free: a job placed by SLURM does not take a local slot.
        other = run_gpu_slots(tmp_path, sys.executable, "-c", PRINT_DEVICES, total=1)
        assert other.returncode == 0, other.stderr
        assert other.stdout.strip() == "0"
    finally:
        assert held.release() == 0


def test_the_job_exit_status_is_passed_through(tmp_path):
    failed = run_gpu_slots(tmp_path, sys.executable, "-c", "raise SystemExit(7)")
    assert failed.returncode == 7
