"""The two JSON arguments each training and evaluation job is handed (iftforget.jobs says what each holds), built
from the job's wildcards by one method per kind of job; the rules name them as params (`job=JOBS.ift`).

- `--job` (`pretrain`, `ift`, `restore`, `eval`): every setting that changes the job's result, from its wildcards
  alone. Snakemake tracks such a param: a changed value reruns the job.
- `--execution` (`execution(stage)`, `eval_execution`): what only changes how the job runs, computed from the job's
  threads. Snakemake tracks no param that takes the job's threads: changing these reruns nothing.

Plain Python without heavy imports, like the rest of the grid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iftforget.grid.axes import Axes
from iftforget.grid.files import Files
from iftforget.grid.stages import Stages
from iftforget.jobs import EvalJob, IftJob, Job, PretrainJob, RestoreJob
from iftforget.paths import Layout, wildcard_variant
from iftforget.tracking import NO_TRACKING, tracked_run

#: The class of each training stage's job.
TRAINING_JOBS: dict[str, type[Job]] = {"pretrain": PretrainJob, "ift": IftJob, "restore": RestoreJob}


class JobSpecs:
    """The --job and --execution of every training and eval job of a validated config's grid."""

    def __init__(self, config: dict[str, Any], layout: Layout, axes: Axes, files: Files, stages: Stages) -> None:
        self.config, self.layout, self.axes, self.files, self.stages = config, layout, axes, files, stages
        self.eval_result, self.eval_run = stages.eval_settings()

    def run_seed(self, wildcards: Any) -> int:
        """The training seed of an IFT or restoration job: its seed, moved on by its replicate."""
        return self.stages.run_seed(int(wildcards.replicate), int(wildcards.seed))

    def pretrain(self, wildcards: Any) -> str:
        """Rule pretrain's --job: the base model's own pre-training (base_models[] over the pretrain block)."""
        block = self.stages.pretrain_block(wildcards.model)
        return PretrainJob.job_json(
            settings=self.stages.stage_settings("pretrain", wildcards.model)[0],
            shape=block["model"],
            steps=block["steps"],
            seed=self.stages.pretrain_seed(int(wildcards.replicate)),
        )

    def ift(self, wildcards: Any) -> str:
        """The --job of an IFT segment (rules ift, ift_last, ift_variant, ift_variant_last): the run of the recipe
        its wildcards name, from the base model up to step k."""
        step, variant = int(wildcards.step), wildcard_variant(wildcards)
        return IftJob.job_json(
            start_model=self.files.model_location(self.axes.base(wildcards.model, int(wildcards.replicate))),
            stop_step=step,
            schedule_length=self.stages.schedule_length(step, variant),
            settings=self.stages.stage_settings("ift", wildcards.model, variant)[0],
            seed=self.run_seed(wildcards),
            trust_remote_code=self.config["trust_remote_code"],
            chat_template_source=self.config["ift"]["chat_template_source"],
        )

    def restore(self, wildcards: Any) -> str:
        """The --job of a restoration (rules restore, restore_control, restore_variant): r steps from IFT@k or, for
        the control, from the base."""
        return RestoreJob.job_json(
            start_model=self.files.model_location(self.axes.restoration_start(wildcards)),
            steps=int(wildcards.budget),
            settings=self.stages.stage_settings("restore", wildcards.model, wildcard_variant(wildcards))[0],
            seed=self.run_seed(wildcards),
            trust_remote_code=self.config["trust_remote_code"],
        )

    def eval(self, wildcards: Any) -> str:
        """Rule eval's --job: the model at {model_path} and the eval settings that change a result."""
        model = self.axes.model_at(wildcards.model_path)
        return EvalJob.job_json(
            model=self.files.model_location(model),
            info=model.info(),
            settings=self.eval_result,
            trust_remote_code=self.config["trust_remote_code"],
            chat_template_source=self.config["ift"]["chat_template_source"],
            world_dir=self.files.world_dir(model.replicate),
        )

    def execution(self, stage: str) -> Callable[[Any, int], str]:
        """The --execution of a training job of `stage`: the settings that only change how it runs (threads,
        device, logging, in-job saves, kernels), and with training.report_to its tracked run's name (<stage>/<model
        path>) and log folder below <results_dir>/tracking/. A function of the job's threads: not tracked."""
        settings = self.stages.stage_settings(stage)[1]
        tracked = self.config["training"]["report_to"] != NO_TRACKING

        def execution(wildcards: Any, threads: int) -> str:
            run_name, tracking_dir = tracked_run(self.layout, stage, wildcards) if tracked else ("", None)
            return TRAINING_JOBS[stage].execution_json(
                run_settings=settings | {"threads": threads}, run_name=run_name, tracking_dir=tracking_dir
            )

        return execution

    def eval_execution(self, wildcards: Any, threads: int) -> str:
        """Rule eval's --execution: how it runs (batch size, device..., the job's threads, the attention kernel every
        model is loaded with, as in training) and where the model's lm-eval request cache lives (outside the declared
        outputs, emptied when the model is rebuilt). A function of the job's threads: not tracked."""
        return EvalJob.execution_json(
            run_settings=self.eval_run
            | {"threads": threads, "attn_implementation": self.config["training"]["attn_implementation"]},
            cache_dir=f"{self.layout.root}/cache/lm_eval/{wildcards.model_path}",
        )
