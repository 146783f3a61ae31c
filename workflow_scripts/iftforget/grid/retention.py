"""Which of the grid's models and trainer states are kept once used, and which are temp() outputs that Snakemake
deletes once every job reading them has run: ift.keep_models and ift.keep_trainer_state (every IFT segment's, the
last grid step's, or none), restore.keep_models (restored models and controls). The rules read these to wrap their
outputs; the config check (iftforget.config.schedule) and the cost planner (benchmarks/cost_model.py) read the same.

Plain Python without heavy imports: the Snakefile imports it to build the DAG.
"""

from __future__ import annotations

from typing import Any

# How many IFT segments each retention value keeps: every one, the last grid step's, none.
RETENTION_ORDER = {"none": 0, "last": 1, "all": 2}


class Retention:
    """The retention settings of a validated config."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.ift = config["ift"]
        self.restore = config["restore"]

    def keeps_ift(self, artifact: str, last: bool) -> bool:
        """Whether an IFT segment's `model` or `trainer_state` is kept (ift.keep_models, ift.keep_trainer_state)
        rather than temp(), for the segment of the last grid step (`last`) or another one."""
        setting = self.ift[{"model": "keep_models", "trainer_state": "keep_trainer_state"}[artifact]]
        return setting == "all" or (setting == "last" and last)

    def separate_last_segment(self) -> bool:
        """Whether the last grid step's segment keeps what the other segments do not (rule ift_last builds it)."""
        return any(self.keeps_ift(artifact, True) != self.keeps_ift(artifact, False)
                   for artifact in ("model", "trainer_state"))

    def keeps_restored(self) -> bool:
        """Whether restored models and controls are kept once evaluated (restore.keep_models), rather than temp()."""
        return self.restore["keep_models"] == "all"
