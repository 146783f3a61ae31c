# External data of the paper-scale grid from local files: the IFT datasets mapped to chat messages and a fixed sample
# of the restoration corpus, each written once as local JSON lines. Data from the hub is mapped and sampled by the
# same scripts in rules prefetch_ift_data and prefetch_restore_corpus (rules/prefetch.smk), on a host with internet.
# Both come first (the highest priority, as the world's data in rules/world.smk): every IFT and restoration reads them.


rule prepare_ift_data:
    output:
        LAYOUT.pattern("ift_data"),
    log:
        LAYOUT.log("prepare_ift_data", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("prepare_ift_data", "{dataset}")
    wildcard_constraints:
        dataset=one_of(SOURCES.local_datasets()),
    priority: 3
    conda:
        "../envs/train.yaml"
    params:
        spec=lambda wildcards: as_json(AXES.datasets[wildcards.dataset]),
    message:
        "Mapping IFT dataset {wildcards.dataset} to chat messages"
    shell:
        "python -m prepare_ift_data --spec {params.spec:q} --out {output:q} > {log:q} 2>&1"


rule prepare_restore_corpus:
    input:
        tokenizer=first_base_inputs,
    output:
        LAYOUT.pattern("restore_data"),
    log:
        LAYOUT.log("prepare_restore_corpus", "{corpus}"),
    benchmark:
        LAYOUT.benchmark("prepare_restore_corpus", "{corpus}")
    wildcard_constraints:
        corpus=one_of(SOURCES.local_corpora()),
    priority: 3
    conda:
        "../envs/train.yaml"
    params:
        spec=as_json(config["restore_corpus"]),
        tokenizer=first_base_tokenizer,
    message:
        "Sampling {config[restore_corpus][sample_tokens]} tokens of restoration corpus {wildcards.corpus}"
    shell:
        "python -m prepare_restore_corpus --spec {params.spec:q} --tokenizer {params.tokenizer:q} --out {output:q}"
        " > {log:q} 2>&1"
