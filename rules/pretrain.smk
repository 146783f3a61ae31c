# The base model: a Llama-style model pre-trained from scratch on the world's biographies.


rule pretrain:
    input:
        tokenizer=GRID.tokenizer_dir(),
        corpus=GRID.world_file("pretrain"),
    output:
        directory(f"{RESULTS}/models/{{model}}/base"),
    log:
        f"{LOGS}/pretrain/{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/pretrain/{{model}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: GRID.stage_settings("pretrain")["threads"]
    resources:
        gpu=config["resources"]["train"]["gpus"],
        runtime=config["resources"]["train"]["runtime"],
        mem_mb=config["resources"]["train"]["mem_mb"],
    params:
        launch=lambda wildcards, resources: launcher(resources.gpu),
        stage=as_json(GRID.stage_settings("pretrain")),
        shape=as_json(config["pretrain"]["model"]),
        steps=config["pretrain"]["steps"],
    message:
        "Pre-training base model {wildcards.model} from scratch ({params.steps} steps)"
    shell:
        "python -m gpu_slots --gpus {resources.gpu} -- {params.launch} pretrain_base --tokenizer {input.tokenizer:q} --corpus {input.corpus:q}"
        " --stage {params.stage:q} --shape {params.shape:q} --threads {threads} --out {output:q} > {log:q} 2>&1"
