# Restoration: each IFT checkpoint, and the base model as the control (k = 0), trained r steps on text
# distributed like the pre-training corpus: restore_corpus, or the corpus of an arm (restore.arms), named by the
# {corpus} wildcard. Restored models are read by their eval only: restore.keep_models = none makes them temp(),
# deleted once evaluated.


rule restore:
    input:
        model=lambda wildcards: FILES.model_inputs(AXES.restoration_start(wildcards)),
        prefetched=lambda wildcards: prefetched(AXES.restoration_start(wildcards)),
        corpus=lambda wildcards: FILES.restore_data_file(wildcards.corpus, wildcards.replicate),
    output:
        model_output("restored", RETENTION.keeps_restored()),
    log:
        LAYOUT.log("restore", MODEL_PATTERNS["restored"]),
    benchmark:
        LAYOUT.benchmark("restore", MODEL_PATTERNS["restored"])
    priority: 1
    conda:
        "../envs/train.yaml"
    threads: STAGES.stage_threads("restore")
    resources:
        **TRAIN_RESOURCES,
    params:
        launch=training_launch,
        job=JOBS.restore,
        execution=JOBS.execution("restore"),
    message:
        "Restoring {wildcards.model}/rep{wildcards.replicate}/ift/{wildcards.dataset}/seed{wildcards.seed}/"
        "step{wildcards.step} with {wildcards.budget} steps on {wildcards.corpus}"
    shell:
        "{params.launch} restore --job {params.job:q} --execution {params.execution:q}"
        " --corpus {input.corpus:q} --out {output:q} > {log:q} 2>&1"


# The control: the base model restored the same way, so that what restoration does by itself is not counted as
# recovery. Only its path differs (AXES.restoration_start gives the base for it).
use rule restore as restore_control with:
    output:
        model_output("control", RETENTION.keeps_restored()),
    log:
        LAYOUT.log("restore", MODEL_PATTERNS["control"]),
    benchmark:
        LAYOUT.benchmark("restore", MODEL_PATTERNS["control"])
    message:
        "Restoring the base model {wildcards.model} of replicate {wildcards.replicate} (the control, seed "
        "{wildcards.seed}) with {wildcards.budget} steps on {wildcards.corpus}"


# The checkpoints of an IFT variant (ift.variants), restored like the ift block's at the same budgets on the same
# corpora; their control is the one above (the restored base does not depend on the IFT recipe).
if AXES.variants:

    use rule restore as restore_variant with:
        output:
            model_output("restored", RETENTION.keeps_restored(), "{variant}"),
        log:
            LAYOUT.log("restore", VARIANT_MODEL_PATTERNS["restored"]),
        benchmark:
            LAYOUT.benchmark("restore", VARIANT_MODEL_PATTERNS["restored"])
        wildcard_constraints:
            variant=one_of(AXES.variants),
        message:
            "Restoring {wildcards.model}/rep{wildcards.replicate}/ift/{wildcards.dataset}/{wildcards.variant}/"
            "seed{wildcards.seed}/step{wildcards.step} with {wildcards.budget} steps on {wildcards.corpus}"
