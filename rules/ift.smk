# Instruction fine-tuning: one run per (base model, dataset, replicate, seed), cut into one job per grid step. The job
# for step k resumes the previous grid step's model and trainer state (optimizer, scheduler, RNG, data position), so
# the chain is one run. ift.keep_models and ift.keep_trainer_state say which models and states are kept for a later
# extension of the grid; the others are temp(), deleted by Snakemake once every job that reads them has run. The
# segments come right after the data and the pre-training they start from (priority 2, below their 3): they are the
# grid's longest chain, and restorations and evaluations fill the other cores meanwhile.


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
        # When the last segment keeps more (a retention of "last"), its step is rule ift_last's (the lookahead leaves
        # "4000" to this rule).
        step=(rf"(?!{AXES.steps[-1]}(?!\d))\d+" if RETENTION.separate_last_segment() else r"\d+"),
    priority: 2
    conda:
        "../envs/train.yaml"
    threads: STAGES.stage_threads("ift")
    resources:
        **TRAIN_RESOURCES,
    params:
        launch=training_launch,
        stage=stage_result("ift"),
        execution=stage_execution("ift"),
        start_model=lambda wildcards: FILES.model_location(AXES.base(wildcards.model, int(wildcards.replicate))),
        seed=run_seed,
        resume=ift_resume_option,
        schedule_length=lambda wildcards: STAGES.schedule_length(int(wildcards.step)),
        trust_remote_code=TRUST_REMOTE_CODE,
        chat_template_source=config["ift"]["chat_template_source"],
        tracking=tracking_options("ift"),
    message:
        "IFT of {wildcards.model} on {wildcards.dataset} (replicate {wildcards.replicate}, seed {wildcards.seed}) "
        "up to step {wildcards.step}"
    shell:
        "{params.launch} ift --model {params.start_model:q} {params.resume} --data {input.data:q}"
        " --stage {params.stage:q} --execution {params.execution:q} --seed {params.seed} --total-steps {params.schedule_length}"
        " --stop-step {wildcards.step} {params.trust_remote_code} {params.tracking}"
        " --chat-template {input.chat_template:q} --chat-template-source {params.chat_template_source}"
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
