# Pattern shifting or knowledge losing? The forgetting study of instruction fine-tuning as a Snakemake workflow.
# Default target: every eval JSON of the grid, the tidy summary, the forgetting table and the figures (README.md).
# Where each artifact lives is defined once, in workflow_scripts/iftforget/paths.py.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/world.smk"
include: "rules/prefetch.smk"
include: "rules/data.smk"
include: "rules/pretrain.smk"
include: "rules/ift.smk"
include: "rules/restore.smk"
include: "rules/eval.smk"
include: "rules/summarize.smk"
include: "rules/analysis.smk"


# Under a cluster executor these jobs run on the host where Snakemake runs, not as submissions: they take seconds to
# minutes on one or two cores and little memory (the longest, prepare_restore_corpus, streams and tokenizes a sample
# of a hub corpus, I/O-bound), too little to be worth a submission and its wait in the queue. Locally, every job runs
# here anyway. docs/clusters.md says why the others are submitted.
localrules:
    all,
    base_models,
    figures,
    world,
    world_fresh_corpus,
    tokenizer,
    world_ift_data,
    prepare_restore_corpus,
    summarize,
    analyze,
    analyze_arm,
    forgetting_table,
    plot_figures,


rule all:
    default_target: True
    input:
        all_targets(),


# The base models and their evals alone, no IFT or restoration: `snakemake base_models` calibrates the pre-training
# (its steps, its size) before a grid is run on it (docs/calibration.md).
rule base_models:
    input:
        FILES.base_eval_files(),


# A run reads what the config names (the restoration corpus, the base models) before its first job, and stops on a
# bad config naming the key (rules/common.smk: preflight). Snakemake calls this once the DAG is built, when there is a
# job to run: `-n` and a run with nothing to do read no data.
onstart:
    preflight()


# Snakemake's scheduler leaves a timer per scheduling round that Python would wait for at exit (up to the workflow
# profile's max-jobs-per-timespan timespan): cancelled once the run has ended (iftforget/library_patches.py).
onsuccess:
    print(f"Scheduler timers cancelled at the end of the run: {cancel_scheduler_timers()}", file=sys.stderr)


onerror:
    print(f"Scheduler timers cancelled at the end of the run: {cancel_scheduler_timers()}", file=sys.stderr)
