"""The experiment grid of a validated config: the one object the Snakefile builds (GRID, rules/common.smk), made of
parts that each own one topic:

- `axes` (iftforget.grid.axes): the grid's axes and the models they span, what is trained and evaluated;
- `sources` (iftforget.grid.sources): each input made here, read from the hub or read from a local path;
- `files` (iftforget.grid.files): the path of every input and output of the grid's jobs;
- `stages` (iftforget.grid.stages): each job's settings, tracked or not, and the seeds;
- `retention` (iftforget.grid.retention): which models and trainer states are kept;
- `jobs` (iftforget.grid.job_specs): the --job and --execution each training and eval job is handed.

The kind of model a training job builds (restored or control) is told from its wildcards by
`iftforget.paths.built_kind`; the analysis' files are `iftforget.analysis.plan`'s.

Plain Python without heavy imports: the Snakefile imports it to build the DAG, and tests import it directly.
"""

from __future__ import annotations

from typing import Any

from iftforget.grid.axes import Axes
from iftforget.grid.files import Files
from iftforget.grid.job_specs import JobSpecs
from iftforget.grid.retention import Retention
from iftforget.grid.sources import Sources
from iftforget.grid.stages import Stages
from iftforget.paths import Layout


class Grid:
    """The grid of a validated config (schemas/config.schema.yaml has filled in every default), by topic."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.layout = Layout(config["results_dir"])
        self.axes = Axes(config)
        self.sources = Sources(self.axes, config["restore_corpus"])
        self.files = Files(self.layout, self.axes, self.sources)
        self.stages = Stages(config, self.axes)
        self.retention = Retention(config)
        self.jobs = JobSpecs(config, self.layout, self.axes, self.files, self.stages)
