"""The cost model of benchmarks/plan_cost.py: the GPU-hours and disk that a config's grid plans, per rule and in
total.

Every number is an estimate from stated assumptions: parameter counts (a model's config.json where it is on this
machine, else `base_models[].parameters`), token counts (optimizer steps x sequences per step x the config's
`costs.sequence_tokens`; `costs.eval_tokens` per model and task), the FLOPs of a dense transformer (6 x parameters x
tokens to train, 2 x parameters x tokens to evaluate) and a stated throughput (`costs.gpu_peak_tflops` x
`costs.train_mfu` or `costs.eval_mfu`). The jobs are the grid's own (`Grid`, `AnalysisPlan` and the retention
settings the rules read), so that the job count of every rule is the one `snakemake -n` plans in an empty working
directory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iftforget.analysis.plan import AnalysisPlan
from iftforget.grid import Grid
from iftforget.grid.sources import PRETRAIN_SOURCE
from iftforget.grid.stages import own_pretrain_block
from iftforget.hub import HF_HOME_DIR, is_hub_id
from iftforget.models import ModelShape, base_model_config, parameters_of
from iftforget.schema import ConfigError

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
ADAMW_BYTES_PER_PARAMETER = 8  # AdamW's two float32 moments
MASTER_BYTES_PER_PARAMETER = 4  # the float32 weights an IFT trainer state keeps when models are saved narrower
TEXT_BYTES_PER_TOKEN = 4  # about 4 characters of English text per token (eval records, corpus samples)
TRAIN_FLOPS_PER_PARAMETER_TOKEN = 6
EVAL_FLOPS_PER_PARAMETER_TOKEN = 2
TRAINING_RULES = ("pretrain", "ift", "ift_last", "restore", "restore_control")


@dataclass(frozen=True)
class BaseModelSize:
    """A base model's parameter count and stored dtype, and where each came from."""

    parameters: int
    source: str
    dtype: str
    dtype_source: str


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


# --- parameter counts ----------------------------------------------------------------------------------------------
def _local_config_json(source: str, revision: str | None, prefetch_cache: Path) -> Path | None:
    """A base model's config.json on this machine: in its folder, or in a hub cache (never downloaded here): the
    workflow's prefetch cache first (where `snakemake prefetch` puts it), then the user's own hub cache."""
    if Path(source).expanduser().is_dir():
        path = Path(source).expanduser() / "config.json"
        return path if path.is_file() else None
    if is_hub_id(source):
        from huggingface_hub import try_to_load_from_cache

        for cache_dir in (prefetch_cache, None):
            cached = try_to_load_from_cache(source, "config.json", cache_dir=cache_dir, revision=revision or None)
            if isinstance(cached, str):
                return Path(cached)
    return None


def _stored_dtype(config_json: dict[str, Any]) -> str | None:
    name = config_json.get("dtype") or config_json.get("torch_dtype")
    return name if name in DTYPE_BYTES else None


def base_model_size(config: dict[str, Any], index: int) -> BaseModelSize:
    """Parameters and stored dtype of base_models[index]: counted from the architecture of its config.json (built
    on the meta device) when that is on this machine, else `base_models[index].parameters`; a model pre-trained here
    is its own shape (pretrain.model with base_models[index].model over it) with tokenizer.vocab_size tokens (an
    upper bound: the trained vocabulary can be smaller), trained and saved in float32."""
    entry = config["base_models"][index]
    if entry["source"] == PRETRAIN_SOURCE:
        shape = ModelShape.from_config(own_pretrain_block(config["pretrain"], entry)["model"])
        count = parameters_of(base_model_config(shape, config["tokenizer"]["vocab_size"]))
        own = any(value is not None for value in entry["model"].values())
        where = f"base_models[{index}].model over pretrain.model" if own else "pretrain.model"
        return BaseModelSize(count, f"{where} with tokenizer.vocab_size", "float32", "trained here in float32")
    # The prefetch rules fetch into the hub cache below HF_HOME, the same for every job.
    prefetch_cache = Path(config["results_dir"]) / HF_HOME_DIR / "hub"
    found = _local_config_json(entry["source"], entry.get("revision"), prefetch_cache)
    if found is not None:
        from transformers import AutoConfig

        model_config = AutoConfig.from_pretrained(str(found.parent), trust_remote_code=config["trust_remote_code"])
        dtype = _stored_dtype(json.loads(found.read_text()))
        return BaseModelSize(parameters_of(model_config, config["trust_remote_code"]), str(found),
                             dtype or "float32", str(found) if dtype else f"{found} names none: float32 assumed")
    if entry["parameters"] > 0:
        return BaseModelSize(int(entry["parameters"]), f"base_models[{index}].parameters", "float32",
                             "its config.json is not on this machine, float32 assumed (an upper bound)")
    raise ConfigError(
        f"base_models[{index}].parameters is needed: the config.json of {entry['source']!r} is not on this machine "
        "(not downloaded); allowed: its parameter count, e.g. 6.74e9 for Llama-2 7B"
    )


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

    def training_job(self, rule: str, base: str, stage: str, steps: int, data: str, outputs: list[Output]) -> Job:
        block = self.grid.stages.stage_block(stage, base)  # a base model's own pre-training batch
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
            previous = 0
            for step in axes.steps:
                last = step == axes.steps[-1]
                rule = "ift_last" if last and retention.separate_last_segment() else "ift"
                outputs = [Output("IFT model (IFT@k)", self.model_bytes(base), retention.keeps_ift("model", last)),
                           Output("IFT trainer state", self.state_bytes(base),
                                  retention.keeps_ift("trainer_state", last))]
                yield self.training_job(rule, base, "ift", step - previous, dataset, outputs)
                previous = step
                for corpus in axes.dataset_corpora(dataset):
                    for budget in axes.step_budgets(step, dataset):
                        restored = Output("restored model", self.model_bytes(base), retention.keeps_restored())
                        yield self.training_job("restore", base, "restore", budget, corpus, [restored])
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
        yield from (Job("forgetting_table"), Job("plot_figures"))
        if self.plan.limit_figures():
            yield Job("residual_limit")
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


# --- the report ----------------------------------------------------------------------------------------------------
def human_bytes(value: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value:,.0f} B" if value else "-"


def _number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if value else "-"


def _hours(value: float) -> str:
    return f"{value:,.2f}" if value >= 0.01 else ("<0.01" if value else "-")


def format_plan(plan: CostPlan, title: str) -> str:
    """The plan as Markdown tables, every figure marked as an estimate."""
    lines = [f"Estimated cost of {title} (estimates from the assumptions below, not measurements)", "",
             "| base model | parameters | counted from | models saved as |", "| --- | ---: | --- | --- |"]
    for name, size in plan.base_models.items():
        saved = plan.save_dtypes[name]
        source = "training.save_dtype" if plan.save_dtype_setting != "auto" else f"auto: {size.dtype_source}"
        lines.append(f"| {name} | {size.parameters:,} | {size.source} | {saved} ({source}) |")
    lines += ["", "| rule | jobs | tokens (est.) | FLOPs (est.) | GPU-hours (est.) | wall hours per job (est.) "
              "| disk written (est.) | disk kept (est.) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    total = plan.total()
    for row in [*plan.rules, total]:
        name = f"**{row.rule}**" if row is total else row.rule
        wall = "" if row is total else _hours(row.wall_hours_per_job)
        lines.append(f"| {name} | {row.jobs} | {_number(row.tokens)} | {_number(row.flops)} | {_hours(row.gpu_hours)} "
                     f"| {wall} | {human_bytes(row.disk_written)} | {human_bytes(row.disk_kept)} |")
    lines += ["", "| artifact | base model | size each (est.) | written | kept at the end | written (est.) "
              "| kept (est.) |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for artifact in plan.artifacts:
        lines.append(f"| {artifact.artifact} | {artifact.base or '-'} | {human_bytes(artifact.size_each)} "
                     f"| {artifact.written} | {artifact.kept} | {human_bytes(artifact.written_bytes)} "
                     f"| {human_bytes(artifact.kept_bytes)} |")
    for what, size in plan.transient:
        lines.append(f"| {what} | - | {human_bytes(size)} | one per job (two while a newer one is written) | 0 | - "
                     "| - |")
    lines += ["", "Assumptions:", *[f"- {line}" for line in plan.assumptions]]
    return "\n".join(lines)
