# The synthetic world of each replicate: people, biographies, QA and generic instructions, the restoration corpus,
# the probes; its tokenizer; the world's IFT datasets, mixed from its QA and generic instructions; the corpus of a
# world-fresh restoration arm. Like the pre-training, these jobs come first (the highest priority): they take
# seconds, and a replicate's chain of IFT segments cannot start without them (at the priority of evals they waited
# behind every ready restoration).


rule world:
    output:
        **{name: FILES.world_file(name) for name in WORLD_FILES},
    log:
        LAYOUT.log("world", "rep{replicate}"),
    benchmark:
        LAYOUT.benchmark("world", "rep{replicate}")
    priority: 3
    conda:
        "../envs/train.yaml"
    params:
        world=lambda wildcards: as_json(STAGES.world_block(int(wildcards.replicate))),
        out_dir=lambda wildcards, output: Path(output.people).parent,
    message:
        "Building the synthetic world of replicate {wildcards.replicate} ({config[world][n_people]} people)"
    shell:
        "python -m world --world {params.world:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule tokenizer:
    input:
        pretrain=FILES.world_file("pretrain"),
        qa=FILES.world_file("qa"),
        generic=FILES.world_file("generic"),
    output:
        directory(LAYOUT.pattern("tokenizer")),
    log:
        LAYOUT.log("tokenizer", "rep{replicate}"),
    benchmark:
        LAYOUT.benchmark("tokenizer", "rep{replicate}")
    priority: 3
    conda:
        "../envs/train.yaml"
    params:
        vocab_size=config["tokenizer"]["vocab_size"],
    message:
        "Training a byte-level BPE tokenizer on the text of world {wildcards.replicate}"
    shell:
        "python -m tokenizer --texts {input.pretrain:q} --chats {input.qa:q} {input.generic:q}"
        " --vocab-size {params.vocab_size} --out {output:q} > {log:q} 2>&1"


rule world_ift_data:
    input:
        qa=FILES.world_file("qa"),
        generic=FILES.world_file("generic"),
    output:
        LAYOUT.pattern("world_ift_data"),
    log:
        LAYOUT.log("world_ift_data", "rep{replicate}/{dataset}"),
    benchmark:
        LAYOUT.benchmark("world_ift_data", "rep{replicate}/{dataset}")
    priority: 3
    conda:
        "../envs/train.yaml"
    params:
        generic_fraction=lambda wildcards: AXES.datasets[wildcards.dataset]["generic_fraction"],
        seed=lambda wildcards: STAGES.world_block(int(wildcards.replicate))["seed"],
    message:
        "Mixing IFT dataset {wildcards.dataset} of world {wildcards.replicate} "
        "({params.generic_fraction} generic instructions)"
    shell:
        "python -m world_ift_data --qa {input.qa:q} --generic {input.generic:q}"
        " --generic-fraction {params.generic_fraction} --seed {params.seed} --out {output:q} > {log:q} 2>&1"


# The corpus of a restoration arm with source world-fresh: biographies of new people, drawn from the replicate's
# world block by random streams of their own. A rule of its own, not an output of rule world, so that adding an arm to
# a finished run rebuilds no world (and no job that reads one).
rule world_fresh_corpus:
    output:
        LAYOUT.pattern("fresh_corpus"),
    log:
        LAYOUT.log("world_fresh_corpus", "rep{replicate}/{corpus}"),
    benchmark:
        LAYOUT.benchmark("world_fresh_corpus", "rep{replicate}/{corpus}")
    wildcard_constraints:
        corpus=one_of(SOURCES.fresh_corpora()),
    priority: 3
    conda:
        "../envs/train.yaml"
    params:
        world=lambda wildcards: as_json(STAGES.world_block(int(wildcards.replicate))),
    message:
        "Writing restoration corpus {wildcards.corpus} of world {wildcards.replicate}: the biographies of people "
        "outside the world's splits"
    shell:
        "python -m world_fresh_corpus --world {params.world:q} --out {output:q} > {log:q} 2>&1"
