# The base model: a Llama-style model pre-trained from scratch on the world's biographies. Pre-trainings come first
# (the highest priority): every replicate's chain of IFT segments, restorations and evals starts from its base model,
# so a base pre-trained last leaves that replicate's whole chain to run at the end with little else beside it.


rule pretrain:
    input:
        tokenizer=LAYOUT.pattern("tokenizer"),
        corpus=FILES.world_file("pretrain"),
    output:
        directory(LAYOUT.pattern("model", kind="base")),
    log:
        LAYOUT.log("pretrain", MODEL_PATTERNS["base"]),
    benchmark:
        LAYOUT.benchmark("pretrain", MODEL_PATTERNS["base"])
    priority: 3
    conda:
        "../envs/train.yaml"
    threads: STAGES.stage_threads("pretrain")
    resources:
        **TRAIN_RESOURCES,
    params:
        launch=training_launch,
        job=JOBS.pretrain,
        execution=JOBS.execution("pretrain"),
    message:
        "Pre-training base model {wildcards.model} of replicate {wildcards.replicate} from scratch"
    shell:
        "{params.launch} pretrain --job {params.job:q} --execution {params.execution:q}"
        " --tokenizer {input.tokenizer:q} --corpus {input.corpus:q} --out {output:q} > {log:q} 2>&1"
