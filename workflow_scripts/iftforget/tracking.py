"""Experiment tracking of training jobs through transformers' `report_to` (config key `training.report_to`).

A tracked job's run is named after the model it builds (<stage>/<model path>, from its wildcards) and logs below the
working directory (<results_dir>/tracking/<stage>/<model path>/): the rules compute both (tracked_run) and hand them
to the training jobs with what only changes how a job runs (iftforget.jobs: run_name and tracking_dir of the job's
--execution, which Snakemake does not track). Plain Python without heavy imports: the Snakefile checks before any job
that the tracker is installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from iftforget.paths import Layout, built_path
from iftforget.schema import ConfigError

# The trackers the workflow supports, each with the packages transformers accepts for it (any one will do) and the
# environment variable through which transformers' callback takes its log folder.
TRACKER_PACKAGES: dict[str, tuple[str, ...]] = {"tensorboard": ("tensorboard", "tensorboardX")}
TRACKER_DIR_VARIABLES: dict[str, str] = {"tensorboard": "TENSORBOARD_LOGGING_DIR"}
NO_TRACKING = "none"


def tracked_run(layout: Layout, stage: str, wildcards: Mapping[str, str]) -> tuple[str, str]:
    """(run name, log folder) of a tracked training job of `stage` (training.report_to): <stage>/<path of the model
    it builds, from its wildcards>, and that path below <results_dir>/tracking/."""
    path = built_path(stage, wildcards)
    return f"{stage}/{path}", layout.tracking(stage, path)


def check_tracker_installed(report_to: str) -> None:
    """Stop with the key, the value and what to install when the tracker's package is missing (transformers itself
    would stop only once the model is loaded, in every training job)."""
    if report_to == NO_TRACKING:
        return
    packages = TRACKER_PACKAGES[report_to]
    if not any(importlib.util.find_spec(package) for package in packages):
        raise ConfigError(
            f"training.report_to = {report_to!r} needs the {' or '.join(packages)} package, which this Python does "
            f"not have; allowed: 'none', or install it (pip install {packages[0]}, as pinned in requirements.txt)"
        )


def start_tracking(report_to: str, directory: str | Path | None, fresh: bool) -> None:
    """Point transformers' tracking callback at `directory` (inside the working directory); a job that starts
    `fresh` (not resuming its own in-job save) first removes the logs of an earlier attempt, which belong to a run
    that no longer counts, while a resumed job appends to its own."""
    if report_to == NO_TRACKING:
        return
    check_tracker_installed(report_to)
    if directory is None:
        raise ValueError(f"training.report_to = {report_to!r} needs the job's tracking folder (its tracking_dir)")
    directory = Path(directory)
    if fresh and os.environ.get("RANK", "0") == "0":  # the main process writes the logs, and clears them
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[TRACKER_DIR_VARIABLES[report_to]] = str(directory)

