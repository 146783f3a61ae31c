# Instruction fine-tuning: one run per (base model, dataset, seed), cut into one job per grid step. The job for
# step k resumes the previous grid step's model and trainer state (optimizer, scheduler, RNG, data position), so
# the chain is one run. The trainer state is temp(): Snakemake deletes it once the next segment has used it
# (run with --notemp to keep it, e.g. to extend the grid later); the models are kept. The segments have the highest
# priority: they are the grid's longest chain, and restorations and evaluations fill the other cores meanwhile.


rule ift_segment:
    input:
        unpack(ift_previous),
        data=ift_dataset_file,
        chat_template=chat_template_file(),
    output:
        model=directory(f"{RESULTS}/models/{{model}}/{{dataset}}/seed{{seed}}/ift-step{{step}}"),
        state=temp(directory(f"{RESULTS}/models/{{model}}/{{dataset}}/seed{{seed}}/ift-step{{step}}.trainer-state")),
    log:
        f"{LOGS}/ift/{{model}}/{{dataset}}/seed{{seed}}/step{{step}}.log",
    benchmark:
        f"{BENCHMARKS}/ift/{{model}}/{{dataset}}/seed{{seed}}/step{{step}}.tsv"
    priority: 2
    conda:
        "../envs/train.yaml"
    threads: GRID.stage_settings("ift")["threads"]
    resources:
        gpu=config["resources"]["train"]["gpus"],
        runtime=config["resources"]["train"]["runtime"],
        mem_mb=config["resources"]["train"]["mem_mb"],
    params:
        launch=lambda wildcards, resources: launcher(resources.gpu),
        stage=lambda wildcards: as_json(GRID.stage_settings("ift", int(wildcards.seed))),
        start_model=ift_start_model,
        resume=ift_resume_option,
        total_steps=config["ift"]["total_steps"],
        trust_remote_code="--trust-remote-code" if config["trust_remote_code"] else "",
    message:
        "IFT of {wildcards.model} on {wildcards.dataset} (seed {wildcards.seed}) up to step {wildcards.step}"
    shell:
        "python -m gpu_slots --gpus {resources.gpu} -- {params.launch} ift_segment --model {params.start_model:q}"
        " {params.resume} --data {input.data:q} --stage {params.stage:q} --total-steps {params.total_steps}"
        " --stop-step {wildcards.step} --threads {threads} {params.trust_remote_code}"
        " --chat-template {input.chat_template:q}"
        " --out {output.model:q} --state-out {output.state:q} > {log:q} 2>&1"
