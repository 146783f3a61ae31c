"""Checks of the grid's schedule that the JSON schema cannot express: the IFT steps (ascending, within
ift.total_steps), the restoration budgets and the steps and datasets they restore (restore.sweep_*,
restore.extra_budgets), and what an IFT segment keeps (ift.keep_models, ift.keep_trainer_state). Each error names the
key and what is allowed.
"""

from __future__ import annotations

from typing import Any

from iftforget.grid.retention import RETENTION_ORDER
from iftforget.schema import ConfigError


def check_schedule(config: dict[str, Any]) -> None:
    """ift.steps strictly ascending and within ift.total_steps; every step and dataset that restore.sweep_steps,
    restore.sweep_datasets and restore.extra_budgets name is one of the grid's; an extra budget is a new budget."""
    steps = list(config["ift"]["steps"])
    if steps != sorted(steps) or len(set(steps)) != len(steps):
        raise ConfigError(f"ift.steps = {steps} is not allowed; allowed: strictly ascending steps without duplicates")
    outside = sorted(set(config["restore"]["sweep_steps"]) - set(steps))
    if outside:
        raise ConfigError(f"restore.sweep_steps has {outside}, which are not grid steps; allowed: steps of ift.steps "
                          f"{steps} (or none, for every grid step)")
    restore = config["restore"]
    datasets = [dataset["name"] for dataset in config["ift_datasets"]]
    unknown = [name for name in restore["sweep_datasets"] if name not in datasets]
    if unknown:
        raise ConfigError(f"restore.sweep_datasets has {unknown}, which are not IFT datasets; allowed: names in "
                          f"ift_datasets {datasets} (or none, for every dataset)")
    for index, extra in enumerate(restore["extra_budgets"]):
        key = f"restore.extra_budgets[{index}]"
        outside = sorted(set(extra["steps"]) - set(steps))
        if outside:
            raise ConfigError(f"{key}.steps has {outside}, which are not grid steps; allowed: steps of ift.steps "
                              f"{steps}")
        others = [restore["steps"], *restore["sweep_budgets"], *(e["budget"] for e in restore["extra_budgets"][:index])]
        if extra["budget"] in others:
            raise ConfigError(f"{key}.budget = {extra['budget']} is already a budget (restore.steps, "
                              "restore.sweep_budgets or an earlier extra budget); allowed: a budget not yet restored "
                              "(for more steps at a sweep budget, add them to restore.sweep_steps)")
    total = config["ift"]["total_steps"]
    if steps[-1] > total:
        raise ConfigError(
            f"ift.steps has step {steps[-1]} beyond ift.total_steps = {total}; allowed steps are 1..{total}"
        )


def check_retention(ift: dict[str, Any]) -> None:
    """A segment resumes from its model and its trainer state together (both are the next segment's inputs), so a
    state kept without its model is never used: Snakemake retrains the segment when a later one needs it."""
    state, models = ift["keep_trainer_state"], ift["keep_models"]
    if RETENTION_ORDER[state] > RETENTION_ORDER[models]:
        allowed = [value for value, rank in RETENTION_ORDER.items() if rank <= RETENTION_ORDER[models]]
        raise ConfigError(
            f"ift.keep_trainer_state = {state!r} keeps trainer states whose models ift.keep_models = {models!r} "
            f"deletes, and a state is only used with its model; allowed with keep_models {models!r}: "
            f"keep_trainer_state {' or '.join(repr(value) for value in allowed)} (or keep more models)"
        )
