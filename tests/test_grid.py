"""What the grid reads from a job's wildcards (Snakemake's own wildcards objects, as the rules hand them over): the
model a restoration starts from (IFT@k of its recipe for restored@k, the base for the control, as
iftforget.paths.built_kind tells them apart), and the pool, corpus and IFT recipe of an analysis job (an arm's, or
the main corpus'; a variant's, or the ift block's)."""

from __future__ import annotations

import pytest
from snakemake.iocontainers import Wildcards

from iftforget.analysis.plan import AnalysisPlan
from iftforget.config import check_config
from iftforget.grid import Grid

pytestmark = pytest.mark.unit

DATASETS = [{"name": "qa-mix", "source": "world", "generic_fraction": 0.5},
            {"name": "format-only", "source": "world", "generic_fraction": 1.0}]
# A corpus named "step": Snakemake's `in` on a job's wildcards looks at values, and must not make a control restored.
RESTORE = {"steps": 50, "sweep_budgets": [200], "sweep_datasets": ["qa-mix"],
           "arms": [{"name": "step", "source": "world-fresh", "datasets": ["qa-mix"]}]}
# An IFT variant named like a corpus wildcard's value would be read ("seed"), for the qa-mix runs only.
IFT = {"variants": [{"name": "seed", "learning_rate": 1.0e-4, "datasets": ["qa-mix"]}]}


def config() -> dict:
    config = {"replicates": [0, 1], "ift_datasets": DATASETS, "restore": RESTORE, "ift": IFT}
    check_config(config)
    return config


def test_a_restoration_starts_from_the_ift_checkpoint_it_restores_and_the_control_from_the_base():
    axes = Grid(config()).axes
    models = set(axes.models())
    restorations = [ref for ref in axes.models() if ref.kind in ("restored", "control")]
    assert {ref.corpus for ref in restorations} == {"hold-bios", "step"}
    assert {ref.variant for ref in restorations} == {"default", "seed"}
    for ref in restorations:
        start = axes.restoration_start(Wildcards(fromdict=ref.wildcards()))
        if ref.kind == "control":
            assert start == axes.base(ref.base_model, ref.replicate)
        else:
            assert start == axes.ift(ref.base_model, ref.dataset, ref.replicate, ref.seed, ref.step, ref.variant)
        assert start in models


def test_an_analysis_job_reads_its_corpus_from_its_wildcards_the_main_one_when_they_name_none():
    validated = config()
    plan = AnalysisPlan(Grid(validated), validated["analysis"])
    main = Wildcards(fromdict={"model": "world-llama", "dataset": "qa-mix"})
    arm = Wildcards(fromdict={"model": "world-llama", "dataset": "qa-mix", "corpus": "step"})
    variant = Wildcards(fromdict={"model": "world-llama", "dataset": "qa-mix", "variant": "seed"})
    variant_arm = Wildcards(fromdict={"model": "world-llama", "dataset": "qa-mix", "variant": "seed", "corpus": "step"})
    assert plan.job_pool(main) == (("world-llama", "qa-mix"), None, "default")
    assert plan.job_pool(arm) == (("world-llama", "qa-mix"), "step", "default")
    assert plan.job_pool(variant) == (("world-llama", "qa-mix"), None, "seed")
    assert plan.job_pool(variant_arm) == (("world-llama", "qa-mix"), "step", "seed")
    assert plan.arm_pools() == [plan.job_pool(arm)[:2]]
    assert plan.variant_analyses() == [plan.job_pool(variant), plan.job_pool(variant_arm)]
    outputs = [set(plan.pool_outputs(*plan.job_pool(job))) for job in (main, arm, variant, variant_arm)]
    assert sum(map(len, outputs)) == len(set.union(*outputs)), "no two analysis jobs write one file"
