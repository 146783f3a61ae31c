"""What each training and evaluation job is handed: one frozen dataclass per kind of job, every setting of the job a
field of it.

The rules build a job's settings as two JSON arguments (iftforget.grid.job_specs: `JOBS.ift` and the like in the
rules), and its adapter turns them back into the job's class
(`IftJob.from_json(job, execution)`) and hands that to the library:

- `--job`: every setting that changes the job's result, built by a params function that takes only the job's
  wildcards. Snakemake tracks such a param (its params trigger): a changed value reruns the job and the jobs after it.
- `--execution`: what only changes how the job runs (threads, device, logging, in-job saves, kernels, its tracked run,
  its caches: the fields marked `execution_field()`), built by a params function that takes the job's threads.
  Snakemake tracks no param computed from a job's threads: changing these reruns nothing.

(Not `--run`: torchrun would read it as its own `--run-path`, tests/test_paper_scale.py.) The files a job reads and
writes are Snakemake's input and output and stay options of their own. Each half is checked against its class when
the rules build it (a missing or unknown setting stops the DAG), and again, with the values' types, when the adapter
reads it.

Plain Python without heavy imports: the Snakefile imports it to build the DAG, the adapters to read their job.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T", bound="Job")

JOB, EXECUTION = "job", "execution"


def execution_field() -> Any:
    """Marks a field that only changes how a job runs: it travels in `--execution`, which Snakemake does not track.
    Every other field changes the result and travels in `--job`."""
    return dataclasses.field(metadata={"half": EXECUTION})


class Job:
    """The two JSON halves of a job class below: built by the rules, read by the adapter, both checked."""

    @classmethod
    def fields_of(cls, half: str) -> list[str]:
        """The names of the fields that travel in `half` (JOB or EXECUTION)."""
        return [field.name for field in dataclasses.fields(cls) if field.metadata.get("half", JOB) == half]

    @classmethod
    def job_json(cls, **values: Any) -> str:
        """The `--job` argument: every field that changes the result, as JSON with sorted keys (the same settings
        give the same text, which Snakemake's params trigger compares)."""
        return json.dumps(cls._checked(JOB, values), sort_keys=True)

    @classmethod
    def execution_json(cls, **values: Any) -> str:
        """The `--execution` argument: every field that only changes how the job runs, as JSON."""
        return json.dumps(cls._checked(EXECUTION, values), sort_keys=True)

    @classmethod
    def from_json(cls: type[T], job: str, execution: str) -> T:
        """The job from its two arguments; a missing, unknown or mistyped setting is an error naming it."""
        values = cls._checked(JOB, json.loads(job)) | cls._checked(EXECUTION, json.loads(execution))
        hints = typing.get_type_hints(cls)
        for name, value in values.items():
            if not _is_of_type(value, hints[name]):
                raise TypeError(f"{cls.__name__}.{name} is {value!r}, not of type {hints[name]}")
        return cls(**values)

    @classmethod
    def _checked(cls, half: str, values: Any) -> dict[str, Any]:
        expected = cls.fields_of(half)
        if not isinstance(values, dict) or set(values) != set(expected):
            given = sorted(values) if isinstance(values, dict) else values
            raise ValueError(f"{cls.__name__}'s --{half} has the settings {given}, not {sorted(expected)}")
        return values


def _is_of_type(value: Any, hint: Any) -> bool:
    """Whether a JSON value is of a field's type: str, int (not a bool), bool, dict or a union of them with None."""
    if isinstance(hint, types.UnionType):
        return any(_is_of_type(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint) or hint
    if origin is int and isinstance(value, bool):
        return False
    return isinstance(value, origin)


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The two options through which an adapter gets its job's settings."""
    parser.add_argument("--job", required=True, help="JSON: every setting that changes the job's result")
    parser.add_argument("--execution", required=True, help="JSON: what only changes how the job runs")


@dataclass(frozen=True)
class PretrainJob(Job):
    """Rule pretrain: a base model pre-trained from scratch on its world's biographies."""

    settings: dict[str, Any]  # the training settings that change the result (iftforget.grid.stages.STAGE_RESULT_KEYS)
    shape: dict[str, Any]  # the architecture: pretrain.model with base_models[].model over it (models.ModelShape)
    steps: int
    seed: int  # pretrain.seed moved on by the replicate
    run_settings: dict[str, Any] = execution_field()  # the other training settings, with the job's threads
    run_name: str = execution_field()  # the tracked run's name (training.report_to), empty without tracking
    tracking_dir: str | None = execution_field()  # the tracked run's log folder, none without tracking


@dataclass(frozen=True)
class IftJob(Job):
    """Rules ift, ift_last, ift_variant, ift_variant_last: one segment of an IFT run, from the previous grid step's
    checkpoint (the rule's input) to step `stop_step`."""

    start_model: str  # the base model the run starts from: a folder, or a prefetched hub model as org/name@revision
    stop_step: int  # the grid step k the segment ends at
    schedule_length: int  # the learning-rate schedule's length (iftforget.grid.stages.Stages.schedule_length)
    settings: dict[str, Any]  # the training settings of the run's recipe that change the result
    seed: int  # the run's seed moved on by its replicate, the same for every IFT recipe
    trust_remote_code: bool
    chat_template_source: str  # ift.chat_template_source: whose chat format the run tunes in (model or config)
    run_settings: dict[str, Any] = execution_field()  # the other training settings, with the job's threads
    run_name: str = execution_field()  # the tracked run's name (training.report_to), empty without tracking
    tracking_dir: str | None = execution_field()  # the tracked run's log folder, none without tracking


@dataclass(frozen=True)
class RestoreJob(Job):
    """Rules restore, restore_control, restore_variant: a model trained r steps on a restoration corpus."""

    start_model: str  # IFT@k for restored@k, the base for the control: a folder, or a hub model as org/name@revision
    steps: int  # the restoration budget r
    settings: dict[str, Any]  # the training settings that change the result
    seed: int  # the run's seed moved on by its replicate
    trust_remote_code: bool
    run_settings: dict[str, Any] = execution_field()  # the other training settings, with the job's threads
    run_name: str = execution_field()  # the tracked run's name (training.report_to), empty without tracking
    tracking_dir: str | None = execution_field()  # the tracked run's log folder, none without tracking


@dataclass(frozen=True)
class EvalJob(Job):
    """Rule eval: one model on every task of the grid, in one lm-eval run."""

    model: str  # a folder, or a prefetched hub model as org/name@revision
    info: dict[str, Any]  # what the model is in the grid (written into its eval JSONs)
    settings: dict[str, Any]  # the eval settings that change a result (iftforget.grid.stages.EVAL_RESULT_KEYS)
    trust_remote_code: bool
    chat_template_source: str  # ift.chat_template_source: the chat format of the chat probes
    world_dir: str  # the world of the model's replicate (the world's probes read it)
    run_settings: dict[str, Any] = execution_field()  # the other eval settings, threads and the attention kernel
    cache_dir: str = execution_field()  # this model's lm-eval request cache
