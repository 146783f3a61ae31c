"""The cost model of benchmarks/plan_cost.py: the GPU-hours and disk that a config's grid plans, per rule and in
total.

Every number is an estimate from stated assumptions: parameter counts (a model's config.json where it is on this
machine, else `base_models[].parameters`), token counts (optimizer steps x sequences per step x the config's
`costs.sequence_tokens`; `costs.eval_tokens` per model and task), the FLOPs of a dense transformer (6 x parameters x
tokens to train, 2 x parameters x tokens to evaluate) and a stated throughput (`costs.gpu_peak_tflops` x
`costs.train_mfu` or `costs.eval_mfu`). The jobs are the grid's own (`Grid`, `AnalysisPlan` and the retention
settings the rules read), so that the job count of every rule is the one `snakemake -n` plans in an empty working
directory. The base models' sizes are benchmarks/model_sizes.py's; the printed tables, benchmarks/cost_report.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from iftforget.analysis.plan import AnalysisPlan
from iftforget.grid import Grid
from iftforget.paths import DEFAULT_VARIANT
from model_sizes import DTYPE_BYTES, BaseModelSize, base_model_size

ADAMW_BYTES_PER_PARAMETER = 8  # AdamW's two float32 moments
MASTER_BYTES_PER_PARAMETER = 4  # the float32 weights an IFT trainer state keeps when models are saved narrower
TEXT_BYTES_PER_TOKEN = 4  # about 4 characters of English text per token (eval records, corpus samples)
TRAIN_FLOPS_PER_PARAMETER_TOKEN = 6
EVAL_FLOPS_PER_PARAMETER_TOKEN = 2
TRAINING_RULES = ("pretrain", "ift", "ift_last", "restore", "restore_control")


@dataclass
class Output:
    """What one job writes that the planner sizes: an artifact kind, its bytes, and whether it outlives the run."""

    artifact: str
    bytes: float
    kept: bool


@dataclass
class Job:
    rule: str
    base: str = ""  # the base model whose size the job's costs scale with
    tokens: float = 0.0
    flops: float = 0.0
    gpu_hours: float = 0.0
    gpus: int = 0
    outputs: list[Output] = field(default_factory=list)


@dataclass(frozen=True)
class RuleCost:
    rule: str
    jobs: int
    tokens: float
    flops: float
    gpu_hours: float
    wall_hours_per_job: float  # GPU-hours of a job / its GPUs (its wall time at the stated throughput)
    disk_written: float
    disk_kept: float


@dataclass(frozen=True)
class ArtifactCost:
    artifact: str
    base: str
    size_each: float
    written: int  # how many the run writes
    kept: int  # how many are left once it ends
    written_bytes: float
    kept_bytes: float


@dataclass(frozen=True)
class CostPlan:
    rules: list[RuleCost]
    artifacts: list[ArtifactCost]
    base_models: dict[str, BaseModelSize]
    assumptions: list[str]
    transient: list[tuple[str, float]]  # (what, bytes): disk a running job holds beside its outputs
    save_dtype_setting: str  # training.save_dtype
    save_dtypes: dict[str, str]  # the dtype each base model's trained models are saved in

    def total(self) -> RuleCost:
        return RuleCost(
            "total",
            sum(r.jobs for r in self.rules),
            sum(r.tokens for r in self.rules),
            sum(r.flops for r in self.rules),
            sum(r.gpu_hours for r in self.rules),
            0.0,
            sum(r.disk_written for r in self.rules),
            sum(r.disk_kept for r in self.rules),
        )

    def rule(self, name: str) -> RuleCost:
        return next(r for r in self.rules if r.rule == name)


# --- the jobs ------------------------------------------------------------------------------------------------------
class _Planner:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.grid = Grid(config)
        self.plan = AnalysisPlan(self.grid, config["analysis"])
        self.costs = config["costs"]
        self.sizes = {entry["name"]: base_model_size(config, i) for i, entry in enumerate(config["base_models"])}
        train = config["resources"]["train"]
        self.train_gpus = train["gpus"]
        self.processes = max(config["training"]["processes"] or train["gpus"], 1)
        self.eval_gpus = config["resources"]["eval"]["gpus"]

    # sizes
    def save_dtype(self, base: str) -> str:
        setting = self.config["training"]["save_dtype"]
        return self.sizes[base].dtype if setting == "auto" else setting

    def model_bytes(self, base: str) -> float:
        return self.sizes[base].parameters * DTYPE_BYTES[self.save_dtype(base)]

    def state_bytes(self, base: str) -> float:
        master = MASTER_BYTES_PER_PARAMETER if self.save_dtype(base) != "float32" else 0
        return self.sizes[base].parameters * (ADAMW_BYTES_PER_PARAMETER + master)

    # tokens and time
    def sequence_tokens(self, name: str) -> int:
        if self.config["training"]["packing"]:
            return self.config["training"]["max_length"]
        table = self.costs["sequence_tokens"]
        return min(table.get(name, table["default"]), self.config["training"]["max_length"])

    def training_job(self, rule: str, base: str, stage: str, steps: int, data: str, outputs: list[Output],
                     variant: str = DEFAULT_VARIANT) -> Job:
        # a base model's own pre-training batch, an IFT variant's own batch
        block = self.grid.stages.stage_block(stage, base, variant)
        sequences = block["batch_size"] * block["gradient_accumulation_steps"] * self.processes
        tokens = steps * sequences * self.sequence_tokens(data)
        flops = TRAIN_FLOPS_PER_PARAMETER_TOKEN * self.sizes[base].parameters * tokens
        hours = flops / (self.costs["gpu_peak_tflops"] * 1e12 * self.costs["train_mfu"]) / 3600
        return Job(rule, base, tokens, flops, hours, self.train_gpus, outputs)

    def eval_tokens(self, task: str) -> int:
        table = self.costs["eval_tokens"]
        return table.get(task, table["default"])

    def eval_job(self, base: str) -> Job:
        tokens = sum(self.eval_tokens(task) for task in self.grid.axes.tasks)
        flops = EVAL_FLOPS_PER_PARAMETER_TOKEN * self.sizes[base].parameters * tokens
        hours = flops / (self.costs["gpu_peak_tflops"] * 1e12 * self.costs["eval_mfu"]) / 3600
        outputs = [Output("eval JSONs of a model (all tasks)", tokens * TEXT_BYTES_PER_TOKEN, True)]
        return Job("eval", base, tokens, flops, hours, self.eval_gpus, outputs)

    def jobs(self) -> Iterator[Job]:
        axes, sources, retention = self.grid.axes, self.grid.sources, self.grid.retention
        pretrained = [b for b in axes.base_models if sources.is_pretrained_here(b)]
        world_datasets = sources.world_datasets()
        corpus_from_world = sources.is_world_corpus()
        needs_world = bool(pretrained or world_datasets or corpus_from_world or sources.any_world_task())
        for replicate in axes.replicates:
            if needs_world:
                yield Job("world")
            if pretrained:
                yield Job("tokenizer")
            for _ in world_datasets:
                yield Job("world_ift_data")
            for _ in sources.fresh_corpora():
                yield Job("world_fresh_corpus")
            for base in pretrained:
                model = Output("base model pre-trained here", self.model_bytes(base), True)
                steps = self.grid.stages.pretrain_block(base)["steps"]
                yield self.training_job("pretrain", base, "pretrain", steps, "pretrain", [model])
        # What comes from the hub is fetched once by the prefetch_* rules (rules/prefetch.smk), the rest read locally.
        for base in sources.hub_models():
            size = self.sizes[base]
            fetched = size.parameters * DTYPE_BYTES[size.dtype]
            yield Job("prefetch_model", base, outputs=[Output("hub model in the prefetch cache", fetched, True)])
        for _ in sources.external_tasks():
            yield Job("prefetch_task")
        for _ in sources.hub_datasets():
            yield Job("prefetch_ift_data")
        for _ in sources.local_datasets():
            yield Job("prepare_ift_data")
        if not corpus_from_world:
            sample = self.config["restore_corpus"]["sample_tokens"] * TEXT_BYTES_PER_TOKEN
            rule = "prefetch_restore_corpus" if sources.hub_corpora() else "prepare_restore_corpus"
            yield Job(rule, outputs=[Output("restoration corpus sample", sample, True)])
        for base, dataset, _, _ in axes.groups():
            for variant in axes.recipes(base, dataset):  # the ift block's recipe, then each IFT variant's
                own = "" if variant == DEFAULT_VARIANT else "_variant"
                previous = 0
                for step in axes.steps:
                    last = step == axes.steps[-1]
                    rule = f"ift{own}_last" if last and retention.separate_last_segment() else f"ift{own}"
                    outputs = [Output("IFT model (IFT@k)", self.model_bytes(base), retention.keeps_ift("model", last)),
                               Output("IFT trainer state", self.state_bytes(base),
                                      retention.keeps_ift("trainer_state", last))]
                    yield self.training_job(rule, base, "ift", step - previous, dataset, outputs, variant)
                    previous = step
                    for corpus in axes.dataset_corpora(dataset):
                        for budget in axes.step_budgets(step, dataset):
                            restored = Output("restored model", self.model_bytes(base), retention.keeps_restored())
                            yield self.training_job(f"restore{own}", base, "restore", budget, corpus, [restored])
        for base in axes.base_models:
            for _ in axes.replicates:
                for _ in axes.seeds:
                    for corpus in axes.corpora():
                        for budget in axes.budgets(corpus):
                            control = Output("control (restored base)", self.model_bytes(base),
                                             retention.keeps_restored())
                            yield self.training_job("restore_control", base, "restore", budget, corpus, [control])
        for model in axes.models():
            yield self.eval_job(model.base_model)
        yield Job("summarize")
        for _ in self.plan.pools():
            yield Job("analyze")
        for _ in self.plan.arm_pools():
            yield Job("analyze_arm")
        for _, corpus, _ in self.plan.variant_analyses():
            yield Job("analyze_variant" if corpus is None else "analyze_variant_arm")
        yield from (Job("forgetting_table"), Job("plot_figures"))
        if self.plan.limit_figures():
            yield Job("residual_limit")
        if self.plan.contrasts():
            yield Job("contrast_table")
        yield Job("all")

    def assumptions(self) -> list[str]:
        costs, config = self.costs, self.config
        lines = [
            "every number is an estimate from these assumptions, not a measurement",
            f"throughput: {costs['gpu_peak_tflops']:g} peak TFLOP/s per GPU (costs.gpu_peak_tflops) at MFU "
            f"{costs['train_mfu']:g} for training (costs.train_mfu) and {costs['eval_mfu']:g} for evaluation "
            "(costs.eval_mfu)",
            "FLOPs: 6 x parameters x tokens to train, 2 x parameters x tokens to evaluate (attention FLOPs and "
            "activation recomputation not counted)",
            f"training tokens: steps x batch_size x gradient_accumulation_steps x {self.processes} process(es) x "
            "tokens per sequence (costs.sequence_tokens: "
            + ", ".join(f"{name} {self.sequence_tokens(name)}" for name in self._sequence_names()) + ")",
            "evaluation tokens per model: " + ", ".join(
                f"{task} {self.eval_tokens(task):,}" for task in self.grid.axes.tasks
            ) + " (costs.eval_tokens)",
            f"models saved in {config['training']['save_dtype']} (training.save_dtype); trainer state: AdamW "
            f"{ADAMW_BYTES_PER_PARAMETER} bytes/parameter, plus {MASTER_BYTES_PER_PARAMETER} for the float32 weights "
            "when models are saved narrower",
            f"retention: ift.keep_models {config['ift']['keep_models']}, ift.keep_trainer_state "
            f"{config['ift']['keep_trainer_state']}, restore.keep_models {config['restore']['keep_models']}; "
            "'kept' is what is left once the run ends (temp() outputs deleted), 'written' all a run writes",
            f"eval JSONs: {TEXT_BYTES_PER_TOKEN} bytes per evaluated token (per-item records hold the prompts); "
            "not counted: lm-eval's request cache, tokenizers, configs, logs, world files and external IFT data",
        ]
        return lines

    def _sequence_names(self) -> list[str]:
        axes, sources = self.grid.axes, self.grid.sources
        names = ["pretrain"] if any(sources.is_pretrained_here(b) for b in axes.base_models) else []
        return [*names, *axes.datasets, *axes.corpora()]


def plan_costs(config: dict[str, Any]) -> CostPlan:
    """The cost plan of a validated config (iftforget.config.check_config has filled in every default)."""
    planner = _Planner(config)
    jobs = list(planner.jobs())
    rules: list[RuleCost] = []
    for name in dict.fromkeys(job.rule for job in jobs):
        mine = [job for job in jobs if job.rule == name]
        hours = sum(job.gpu_hours for job in mine)
        rules.append(RuleCost(
            name, len(mine), sum(j.tokens for j in mine), sum(j.flops for j in mine), hours,
            sum(j.gpu_hours / max(j.gpus, 1) for j in mine) / len(mine),
            sum(o.bytes for j in mine for o in j.outputs), sum(o.bytes for j in mine for o in j.outputs if o.kept),
        ))
    artifacts: dict[tuple[str, str], list[Output]] = {}
    for job in jobs:
        for output in job.outputs:
            artifacts.setdefault((output.artifact, job.base), []).append(output)
    artifact_costs = [
        ArtifactCost(name, base, max(o.bytes for o in outputs), len(outputs), sum(o.kept for o in outputs),
                     sum(o.bytes for o in outputs), sum(o.bytes for o in outputs if o.kept))
        for (name, base), outputs in artifacts.items()
    ]
    transient = []
    if config["training"]["save_every_steps"] > 0:
        largest = max(size.parameters for size in planner.sizes.values())
        per_job = largest * (MASTER_BYTES_PER_PARAMETER + ADAMW_BYTES_PER_PARAMETER)
        transient.append(("in-job save of a running training job (<output>.inprogress/; largest base)", per_job))
    save_dtypes = {name: planner.save_dtype(name) for name in planner.sizes}
    return CostPlan(rules, artifact_costs, planner.sizes, planner.assumptions(), transient,
                    config["training"]["save_dtype"], save_dtypes)
