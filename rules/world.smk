# The synthetic world: people, biographies, IFT chat data, the restoration corpus, the probes, and a tokenizer.


rule world:
    output:
        **{name: GRID.world_file(name) for name in WORLD_FILES},
    log:
        LAYOUT.log("world"),
    benchmark:
        LAYOUT.benchmark("world")
    conda:
        "../envs/train.yaml"
    params:
        world=as_json(config["world"]),
        out_dir=lambda wildcards, output: Path(output.people).parent,
    message:
        "Building the synthetic world (seed {config[world][seed]}, {config[world][n_people]} people)"
    shell:
        "python -m world --world {params.world:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule tokenizer:
    input:
        pretrain=GRID.world_file("pretrain"),
        ift=GRID.world_file("ift"),
    output:
        directory(LAYOUT.pattern("tokenizer")),
    log:
        LAYOUT.log("tokenizer"),
    benchmark:
        LAYOUT.benchmark("tokenizer")
    conda:
        "../envs/train.yaml"
    params:
        vocab_size=config["tokenizer"]["vocab_size"],
    message:
        "Training a byte-level BPE tokenizer on the world's text"
    shell:
        "python -m tokenizer --texts {input.pretrain:q} --chats {input.ift:q}"
        " --vocab-size {params.vocab_size} --out {output:q} > {log:q} 2>&1"
