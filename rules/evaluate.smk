# Evaluation: one lm-eval run per (model, task), written as one JSON with per-item records.


rule evaluate:
    input:
        model=eval_model_inputs,
        world=eval_world_inputs,
    output:
        f"{RESULTS}/eval/{{model_path}}/{{task}}.json",
    log:
        f"{LOGS}/eval/{{model_path}}/{{task}}.log",
    benchmark:
        f"{BENCHMARKS}/eval/{{model_path}}/{{task}}.tsv"
    wildcard_constraints:
        model_path=".+",
    conda:
        "../envs/eval.yaml"
    threads: config["eval"]["threads"]
    resources:
        gpu=config["resources"]["eval"]["gpus"],
        runtime=config["resources"]["eval"]["runtime"],
        mem_mb=config["resources"]["eval"]["mem_mb"],
    params:
        model=lambda wildcards: GRID.model_location(wildcards.model_path),
        info=lambda wildcards: as_json(parse_model_path(wildcards.model_path).info()),
        settings=as_json(config["eval"] | {"trust_remote_code": config["trust_remote_code"]}),
        world_dir=GRID.world_dir(),
    message:
        "Evaluating {wildcards.model_path} on {wildcards.task}"
    shell:
        "python -m gpu_slots --gpus {resources.gpu} -- python -m evaluate_model --model {params.model:q} --task {wildcards.task} --settings {params.settings:q}"
        " --info {params.info:q} --world-dir {params.world_dir:q} --threads {threads} --out {output:q} > {log:q} 2>&1"
