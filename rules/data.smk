# External data of the paper-scale grid (hub ids or local files): the IFT datasets mapped to chat messages and a
# fixed sample of the restoration corpus, each written once as local JSON lines.


rule prepare_ift_data:
    output:
        f"{RESULTS}/data/ift/{{dataset}}.jsonl",
    log:
        f"{LOGS}/data/ift-{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/data/ift-{{dataset}}.tsv"
    conda:
        "../envs/train.yaml"
    params:
        spec=lambda wildcards: as_json(GRID.datasets[wildcards.dataset]),
    message:
        "Mapping IFT dataset {wildcards.dataset} to chat messages"
    shell:
        "python -m prepare_data ift --spec {params.spec:q} --out {output:q} > {log:q} 2>&1"


rule prepare_restore_corpus:
    input:
        tokenizer=corpus_tokenizer_input,
    output:
        f"{RESULTS}/data/restore/{{corpus}}.jsonl",
    log:
        f"{LOGS}/data/restore-{{corpus}}.log",
    benchmark:
        f"{BENCHMARKS}/data/restore-{{corpus}}.tsv"
    conda:
        "../envs/train.yaml"
    params:
        spec=as_json(config["restore_corpus"]),
        tokenizer=corpus_tokenizer,
    message:
        "Sampling {config[restore_corpus][sample_tokens]} tokens of restoration corpus {wildcards.corpus}"
    shell:
        "python -m prepare_data corpus --spec {params.spec:q} --tokenizer {params.tokenizer:q} --out {output:q}"
        " > {log:q} 2>&1"
