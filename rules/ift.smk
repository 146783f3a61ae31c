# Instruction fine-tuning: one run per (base model, dataset, seed), cut into one job per grid step. The job for
# step k resumes the previous grid step's model and trainer state (optimizer, scheduler, RNG, data position), so
# the chain is one run. The trainer state is temp(): Snakemake deletes it once the next segment has used it
# (run with --notemp to keep it, e.g. to extend the grid later); the models are kept. The segments have the highest
# priority: they are the grid's longest chain, and restorations and evaluations fill the other cores meanwhile.


rule ift:
    input:
        unpack(ift_previous),
        data=lambda wildcards: GRID.ift_data_file(wildcards.dataset),
        chat_template=chat_template_file(),
    output:
        model=directory(LAYOUT.pattern("model", kind="ift")),
        state=temp(directory(LAYOUT.pattern("trainer_state", kind="ift"))),
    log:
        LAYOUT.log("ift", MODEL_PATTERNS["ift"]),
    benchmark:
        LAYOUT.benchmark("ift", MODEL_PATTERNS["ift"])
    priority: 2
    conda:
        "../envs/train.yaml"
    threads: GRID.stage_threads("ift")
    resources:
        **TRAIN_RESOURCES,
    params:
        launch=training_launch,
        stage=as_json(GRID.stage_block("ift")),
        start_model=lambda wildcards: GRID.model_location(ModelRef("base", wildcards.model)),
        resume=ift_resume_option,
        total_steps=config["ift"]["total_steps"],
        trust_remote_code=TRUST_REMOTE_CODE,
    message:
        "IFT of {wildcards.model} on {wildcards.dataset} (seed {wildcards.seed}) up to step {wildcards.step}"
    shell:
        "{params.launch} ift --model {params.start_model:q} {params.resume} --data {input.data:q}"
        " --stage {params.stage:q} --seed {wildcards.seed} --total-steps {params.total_steps}"
        " --stop-step {wildcards.step} --threads {threads} {params.trust_remote_code}"
        " --chat-template {input.chat_template:q} --out {output.model:q} --state-out {output.state:q} > {log:q} 2>&1"
