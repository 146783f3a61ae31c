# Instruction fine-tuning: one run per (base model, dataset, replicate, seed), cut into one job per grid step. The job
# for step k resumes the previous grid step's model and trainer state (optimizer, scheduler, RNG, data position), so
# the chain is one run. ift.keep_models and ift.keep_trainer_state say which models and states are kept for a later
# extension of the grid; the others are temp(), deleted by Snakemake once every job that reads them has run. The
# segments come right after the data and the pre-training they start from (priority 2, below their 3): they are the
# grid's longest chain, and restorations and evaluations fill the other cores meanwhile. An IFT variant
# (ift.variants) is the same chain with a recipe of its own, one level deeper (rule ift_variant).

# When the last segment keeps more (a retention of "last"), its step is rule ift_last's (the lookahead leaves "4000"
# to rule ift).
IFT_STEPS = rf"(?!{AXES.steps[-1]}(?!\d))\d+" if RETENTION.separate_last_segment() else r"\d+"


rule ift:
    input:
        unpack(ift_previous),
        data=lambda wildcards: FILES.ift_data_file(wildcards.dataset, wildcards.replicate),
        chat_template=chat_template_file(),
    output:
        model=model_output("ift", RETENTION.keeps_ift("model", last=False)),
        state=trainer_state(RETENTION.keeps_ift("trainer_state", last=False)),
    log:
        LAYOUT.log("ift", MODEL_PATTERNS["ift"]),
    benchmark:
        LAYOUT.benchmark("ift", MODEL_PATTERNS["ift"])
    wildcard_constraints:
        step=IFT_STEPS,
    priority: 2
    conda:
        "../envs/train.yaml"
    threads: STAGES.stage_threads("ift")
    resources:
        **TRAIN_RESOURCES,
    params:
        launch=training_launch,
        job=JOBS.ift,
        execution=JOBS.execution("ift"),
        resume=ift_resume_option,
    message:
        "IFT of {wildcards.model} on {wildcards.dataset} (replicate {wildcards.replicate}, seed {wildcards.seed}) "
        "up to step {wildcards.step}"
    shell:
        "{params.launch} ift --job {params.job:q} --execution {params.execution:q} {params.resume}"
        " --data {input.data:q} --chat-template {input.chat_template:q}"
        " --out {output.model:q} --state-out {output.state:q} > {log:q} 2>&1"


# With a retention of "last" (ift.keep_models or ift.keep_trainer_state), the last grid step's segment keeps its model
# or state (rule ift then builds the others).
if RETENTION.separate_last_segment():

    use rule ift as ift_last with:
        output:
            model=model_output("ift", RETENTION.keeps_ift("model", last=True)),
            state=trainer_state(RETENTION.keeps_ift("trainer_state", last=True)),
        wildcard_constraints:
            step=str(AXES.steps[-1]),


# The IFT variants (ift.variants): each run of the ift block's with a recipe of its own, the same steps and seeds,
# below its name ({variant}); the same split of the last segment.
if AXES.variants:

    use rule ift as ift_variant with:
        output:
            model=model_output("ift", RETENTION.keeps_ift("model", last=False), "{variant}"),
            state=trainer_state(RETENTION.keeps_ift("trainer_state", last=False), "{variant}"),
        log:
            LAYOUT.log("ift", VARIANT_MODEL_PATTERNS["ift"]),
        benchmark:
            LAYOUT.benchmark("ift", VARIANT_MODEL_PATTERNS["ift"])
        wildcard_constraints:
            step=IFT_STEPS,
            variant=one_of(AXES.variants),
        message:
            "IFT of {wildcards.model} on {wildcards.dataset} with the recipe {wildcards.variant} (replicate "
            "{wildcards.replicate}, seed {wildcards.seed}) up to step {wildcards.step}"

    if RETENTION.separate_last_segment():

        use rule ift_variant as ift_variant_last with:
            output:
                model=model_output("ift", RETENTION.keeps_ift("model", last=True), "{variant}"),
                state=trainer_state(RETENTION.keeps_ift("trainer_state", last=True), "{variant}"),
            wildcard_constraints:
                step=str(AXES.steps[-1]),
                variant=one_of(AXES.variants),
