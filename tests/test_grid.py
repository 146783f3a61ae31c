"""What the grid reads from a job's wildcards (Snakemake's own wildcards objects, as the rules hand them over): the
model a restoration starts from (IFT@k for restored@k, the base for the control, as iftforget.paths.built_kind
tells them apart), and the pool and corpus of an analysis job (an arm's, or the main corpus')."""

from __future__ import annotations

from snakemake.iocontainers import Wildcards

from iftforget.analysis.plan import AnalysisPlan
from iftforget.config import check_config
from iftforget.grid import Grid

DATASETS = [{"name": "qa-mix", "source": "world", "generic_fraction": 0.5},
            {"name": "format-only", "source": "world", "generic_fraction": 1.0}]
# A corpus named "step": Snakemake's `in` on a job's wildcards looks at values, and must not make a control restored.
RESTORE = {"steps": 50, "sweep_budgets": [200], "sweep_datasets": ["qa-mix"],
           "arms": [{"name": "step", "source": "world-fresh", "datasets": ["qa-mix"]}]}


def config() -> dict:
    config = {"replicates": [0, 1], "ift_datasets": DATASETS, "restore": RESTORE}
    check_config(config)
    return config


def test_a_restoration_starts_from_the_ift_checkpoint_it_restores_and_the_control_from_the_base():
    axes = Grid(config()).axes
    models = set(axes.models())
    restorations = [ref for ref in axes.models() if ref.kind in ("restored", "control")]
    assert {ref.corpus for ref in restorations} == {"hold-bios", "step"}
    for ref in restorations:
        start = axes.restoration_start(Wildcards(fromdict=ref.wildcards()))
        if ref.kind == "control":
            assert start == axes.base(ref.base_model, ref.replicate)
        else:
            assert start == axes.ift(ref.base_model, ref.dataset, ref.replicate, ref.seed, ref.step)
        assert start in models


def test_an_analysis_job_reads_its_corpus_from_its_wildcards_the_main_one_when_they_name_none():
    validated = config()
    plan = AnalysisPlan(Grid(validated), validated["analysis"])
    main = Wildcards(fromdict={"model": "world-llama", "dataset": "qa-mix"})
    arm = Wildcards(fromdict={"model": "world-llama", "dataset": "qa-mix", "corpus": "step"})
    assert plan.job_pool(main) == (("world-llama", "qa-mix"), None)
    assert plan.job_pool(arm) == (("world-llama", "qa-mix"), "step")
    assert plan.arm_pools() == [plan.job_pool(arm)]
    assert not set(plan.pool_outputs(*plan.job_pool(main))) & set(plan.pool_outputs(*plan.job_pool(arm)))
