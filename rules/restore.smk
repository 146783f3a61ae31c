# Restoration: each IFT checkpoint, and the base model as the control (k = 0), trained r steps on text
# distributed like the pre-training corpus.


rule restore:
    input:
        model=lambda wildcards: GRID.model_dir(
            f"{wildcards.model}/{wildcards.dataset}/seed{wildcards.seed}/ift-step{wildcards.step}"
        ),
        corpus=restore_corpus_file(),
    output:
        directory(f"{RESULTS}/models/{{model}}/{{dataset}}/seed{{seed}}/ift-step{{step}}-restored-{{corpus}}"),
    log:
        f"{LOGS}/restore/{{model}}/{{dataset}}/seed{{seed}}/step{{step}}-{{corpus}}.log",
    benchmark:
        f"{BENCHMARKS}/restore/{{model}}/{{dataset}}/seed{{seed}}/step{{step}}-{{corpus}}.tsv"
    priority: 1
    conda:
        "../envs/train.yaml"
    threads: GRID.stage_settings("restore")["threads"]
    resources:
        gpu=config["resources"]["train"]["gpus"],
        runtime=config["resources"]["train"]["runtime"],
        mem_mb=config["resources"]["train"]["mem_mb"],
    params:
        launch=lambda wildcards, resources: launcher(resources.gpu),
        stage=lambda wildcards: as_json(GRID.stage_settings("restore", int(wildcards.seed))),
        source=lambda wildcards, input: input.model,
        steps=config["restore"]["steps"],
        trust_remote_code="--trust-remote-code" if config["trust_remote_code"] else "",
    message:
        "Restoring IFT@{wildcards.step} of {wildcards.model}/{wildcards.dataset} (seed {wildcards.seed}) "
        "with {params.steps} steps on {wildcards.corpus}"
    shell:
        "python -m gpu_slots --gpus {resources.gpu} -- {params.launch} restore_model --model {params.source:q} --corpus {input.corpus:q}"
        " --stage {params.stage:q} --threads {threads} {params.trust_remote_code} --out {output:q} > {log:q} 2>&1"


use rule restore as restore_control with:
    input:
        model=lambda wildcards: GRID.model_inputs(f"{wildcards.model}/base"),
        corpus=restore_corpus_file(),
    output:
        directory(f"{RESULTS}/models/{{model}}/base-restored-{{corpus}}/seed{{seed}}"),
    log:
        f"{LOGS}/restore/{{model}}/base-seed{{seed}}-{{corpus}}.log",
    benchmark:
        f"{BENCHMARKS}/restore/{{model}}/base-seed{{seed}}-{{corpus}}.tsv"
    params:
        launch=lambda wildcards, resources: launcher(resources.gpu),
        stage=lambda wildcards: as_json(GRID.stage_settings("restore", int(wildcards.seed))),
        source=lambda wildcards: GRID.model_location(f"{wildcards.model}/base"),
        steps=config["restore"]["steps"],
        trust_remote_code="--trust-remote-code" if config["trust_remote_code"] else "",
    message:
        "Restoring the base model {wildcards.model} (the control, seed {wildcards.seed}) "
        "with {params.steps} steps on {wildcards.corpus}"
