# Evaluation: one lm-eval run per (model, task), written as one JSON with per-item records. {model_path} is the
# path of any model of the grid (its constraint is built from the path table), and the job looks the model up.


rule eval:
    input:
        model=lambda wildcards: GRID.model_inputs(GRID.model_at(wildcards.model_path)),
        world=lambda wildcards: GRID.task_world_files(wildcards.task),
    output:
        LAYOUT.pattern("eval"),
    log:
        LAYOUT.log("eval", "{model_path}/{task}"),
    benchmark:
        LAYOUT.benchmark("eval", "{model_path}/{task}")
    conda:
        "../envs/eval.yaml"
    threads: config["eval"]["threads"]
    resources:
        **EVAL_RESOURCES,
    params:
        launch=single_process_launch,
        model=lambda wildcards: GRID.model_location(GRID.model_at(wildcards.model_path)),
        info=lambda wildcards: as_json(GRID.model_at(wildcards.model_path).info()),
        settings=as_json(config["eval"]),
        trust_remote_code=TRUST_REMOTE_CODE,
        world_dir=GRID.world_dir(),
    message:
        "Evaluating {wildcards.model_path} on {wildcards.task}"
    shell:
        "{params.launch} eval --model {params.model:q} --task {wildcards.task} --settings {params.settings:q}"
        " {params.trust_remote_code} --info {params.info:q} --world-dir {params.world_dir:q} --threads {threads}"
        " --out {output:q} > {log:q} 2>&1"
