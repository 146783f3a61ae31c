"""What a training or evaluation job is handed (iftforget.jobs): its two JSON arguments, --job (what changes its
result) and --execution (what only changes how it runs), read back into the job's class as the rules wrote them; a
missing, unknown, misplaced or mistyped setting is an error naming it, when the rules write it and when the adapter
reads it."""

from __future__ import annotations

import json

import pytest

from iftforget.jobs import EXECUTION, JOB, EvalJob, IftJob, PretrainJob, RestoreJob

pytestmark = pytest.mark.unit

TRAINING_RUN = {"run_settings": {"threads": 2, "device": "cpu"}, "run_name": "ift/m/rep0/ift/d/seed0/step5",
                "tracking_dir": "results/tracking/ift/m/rep0/ift/d/seed0/step5"}
# Each kind of job with a value for every setting: (class, its --job, its --execution).
JOBS = {
    "pretrain": (PretrainJob, {"settings": {"learning_rate": 3.0e-3}, "shape": {"hidden_size": 32}, "steps": 20,
                               "seed": 1}, TRAINING_RUN | {"run_name": "", "tracking_dir": None}),
    "ift": (IftJob, {"start_model": "org/name@abc", "stop_step": 5, "schedule_length": 10,
                     "settings": {"learning_rate": 1.0e-3}, "seed": 1000, "trust_remote_code": False,
                     "chat_template_source": "model"}, TRAINING_RUN),
    "restore": (RestoreJob, {"start_model": "models/m/rep0/base", "steps": 50, "settings": {"batch_size": 8},
                             "seed": 0, "trust_remote_code": True}, TRAINING_RUN),
    "eval": (EvalJob, {"model": "models/m/rep0/base", "info": {"kind": "base"}, "settings": {"num_fewshot": 0},
                       "trust_remote_code": False, "chat_template_source": "config", "world_dir": "world/rep0"},
             {"run_settings": {"batch_size": 32, "threads": 1}, "cache_dir": "cache/lm_eval/m/rep0/base"}),
}


@pytest.mark.parametrize("kind", sorted(JOBS))
def test_a_job_reads_back_every_setting_the_rules_wrote(kind):
    cls, job, execution = JOBS[kind]
    read = cls.from_json(cls.job_json(**job), cls.execution_json(**execution))
    assert isinstance(read, cls)
    assert {name: getattr(read, name) for name in cls.fields_of(JOB)} == job
    assert {name: getattr(read, name) for name in cls.fields_of(EXECUTION)} == execution
    # The same settings give the same text, whatever their order: what Snakemake's params trigger compares.
    assert cls.job_json(**dict(reversed(job.items()))) == cls.job_json(**job)


def test_a_missing_unknown_or_misplaced_setting_stops_the_rules_and_the_adapter():
    cls, job, execution = JOBS["ift"]
    without_seed = {name: value for name, value in job.items() if name != "seed"}
    with pytest.raises(ValueError, match=r"IftJob's --job has the settings .* not .*'seed'"):
        cls.job_json(**without_seed)
    with pytest.raises(ValueError, match="'total_steps'"):
        cls.job_json(**job, total_steps=10)
    # What only changes how the job runs has no place in --job, and the other way round.
    with pytest.raises(ValueError, match="IftJob's --job"):
        cls.job_json(**job, run_name="ift/m")
    with pytest.raises(ValueError, match="IftJob's --execution"):
        cls.execution_json(**execution, seed=0)
    with pytest.raises(ValueError, match="IftJob's --job"):
        cls.from_json(json.dumps(without_seed), cls.execution_json(**execution))
    with pytest.raises(ValueError, match="IftJob's --execution"):
        cls.from_json(cls.job_json(**job), json.dumps([execution]))


@pytest.mark.parametrize(("name", "value"), [("seed", "1000"), ("stop_step", True), ("trust_remote_code", 0),
                                             ("settings", [["learning_rate", 1.0e-3]]), ("start_model", None)])
def test_a_mistyped_setting_is_named_when_the_adapter_reads_it(name, value):
    cls, job, execution = JOBS["ift"]
    with pytest.raises(TypeError, match=rf"IftJob\.{name} is "):
        cls.from_json(json.dumps(job | {name: value}), cls.execution_json(**execution))


def test_a_folder_may_be_none_only_where_its_type_says():
    cls, job, execution = JOBS["eval"]
    with pytest.raises(TypeError, match=r"EvalJob\.cache_dir is None"):
        cls.from_json(cls.job_json(**job), json.dumps(execution | {"cache_dir": None}))
    assert RestoreJob.from_json(RestoreJob.job_json(**JOBS["restore"][1]),
                                json.dumps(TRAINING_RUN | {"tracking_dir": None})).tracking_dir is None
