# Hub artifacts for compute nodes without internet. The prefetch_* rules are the only jobs that go online: each
# fetches one artifact the config names from the hub into the caches inside the working directory (cache/hf,
# cache/datasets) and writes what it fetched (prefetch/..., or the mapped IFT data and the corpus sample). They are
# local rules, so that under SLURM they run where Snakemake runs, on the login node, and every other job runs offline
# on the compute nodes. `snakemake prefetch` runs them alone, as a step of its own before the grid; a plain run
# schedules them first when needed. The jobs that read a hub model or task dataset take its record as an input: the
# same commit fetched again gives the same record and reruns nothing (input checksums), a new one reruns them.


localrules:
    prefetch,
    prefetch_model,
    prefetch_task,
    prefetch_ift_data,
    prefetch_restore_corpus,


# Everything the config needs from the hub. The default world needs nothing: the input is then the Snakefile, which
# exists, so that Snakemake has nothing to do (a rule with no input at all would count as a job to run).
rule prefetch:
    input:
        FILES.prefetch_targets() or [Path(workflow.basedir) / "Snakefile"],


rule prefetch_model:
    output:
        LAYOUT.pattern("prefetched_model"),
    log:
        LAYOUT.log("prefetch_model", "{model}"),
    benchmark:
        LAYOUT.benchmark("prefetch_model", "{model}")
    wildcard_constraints:
        model=one_of(SOURCES.hub_models()),
    conda:
        "../envs/eval.yaml"
    params:
        repo_id=lambda wildcards: AXES.base_models[wildcards.model]["source"],
        revision=lambda wildcards: AXES.base_models[wildcards.model]["revision"],
        # Not tracked (a function of the output): naming another token variable refetches nothing.
        token_env=lambda wildcards, output: config["hub_token_env"],
    message:
        "Fetching base model {wildcards.model} ({params.repo_id}) from the hub"
    shell:
        "HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 python -m prefetch model --repo-id {params.repo_id:q}"
        " --revision={params.revision:q} --token-env={params.token_env:q} --out {output:q} > {log:q} 2>&1"


rule prefetch_task:
    output:
        LAYOUT.pattern("prefetched_task"),
    log:
        LAYOUT.log("prefetch_task", "{task}"),
    benchmark:
        LAYOUT.benchmark("prefetch_task", "{task}")
    wildcard_constraints:
        task=one_of(SOURCES.external_tasks()),
    conda:
        "../envs/eval.yaml"
    params:
        include_path=config["eval"]["include_path"],
        token_env=lambda wildcards, output: config["hub_token_env"],
    message:
        "Fetching the datasets of lm-eval task {wildcards.task} through lm-eval"
    shell:
        "HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 python -m prefetch task --task {wildcards.task:q}"
        " --include-path={params.include_path:q} --token-env={params.token_env:q} --out {output:q} > {log:q} 2>&1"


# A hub IFT dataset is read and mapped to chats where it is fetched (the mapping is light); the jobs read the result.
rule prefetch_ift_data:
    output:
        LAYOUT.pattern("ift_data"),
    log:
        LAYOUT.log("prefetch_ift_data", "{dataset}"),
    benchmark:
        LAYOUT.benchmark("prefetch_ift_data", "{dataset}")
    wildcard_constraints:
        dataset=one_of(SOURCES.hub_datasets()),
    conda:
        "../envs/train.yaml"
    params:
        spec=lambda wildcards: as_json(AXES.datasets[wildcards.dataset]),
        token_env=lambda wildcards, output: config["hub_token_env"],
    message:
        "Fetching IFT dataset {wildcards.dataset} from the hub and mapping it to chat messages"
    shell:
        "HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 python -m prepare_ift_data --spec {params.spec:q}"
        " --token-env={params.token_env:q} --out {output:q} > {log:q} 2>&1"


# A hub corpus is streamed: only its sample is fetched, counted with the first base model's tokenizer.
rule prefetch_restore_corpus:
    input:
        tokenizer=first_base_inputs,
    output:
        LAYOUT.pattern("restore_data"),
    log:
        LAYOUT.log("prefetch_restore_corpus", "{corpus}"),
    benchmark:
        LAYOUT.benchmark("prefetch_restore_corpus", "{corpus}")
    wildcard_constraints:
        corpus=one_of(SOURCES.hub_corpora()),
    conda:
        "../envs/train.yaml"
    params:
        spec=as_json(config["restore_corpus"]),
        tokenizer=first_base_tokenizer,
        token_env=lambda wildcards, output: config["hub_token_env"],
    message:
        "Streaming a {config[restore_corpus][sample_tokens]}-token sample of restoration corpus {wildcards.corpus} "
        "from the hub"
    shell:
        "HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 python -m prepare_restore_corpus --spec {params.spec:q}"
        " --tokenizer {params.tokenizer:q} --token-env={params.token_env:q} --out {output:q} > {log:q} 2>&1"
