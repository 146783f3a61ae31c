# The synthetic world: people, biographies, IFT chat data, the restoration corpus, the probes, and a tokenizer.


rule world:
    output:
        **{name: GRID.world_file(name) for name in WORLD_FILES},
    log:
        f"{LOGS}/world.log",
    benchmark:
        f"{BENCHMARKS}/world.tsv"
    conda:
        "../envs/train.yaml"
    params:
        world=as_json(config["world"]),
        out_dir=lambda wildcards, output: Path(output.people).parent,
    message:
        "Building the synthetic world (seed {config[world][seed]}, {config[world][n_people]} people)"
    shell:
        "python -m make_world --world {params.world:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule tokenizer:
    input:
        pretrain=GRID.world_file("pretrain"),
        ift=GRID.world_file("ift"),
    output:
        directory(GRID.tokenizer_dir()),
    log:
        f"{LOGS}/tokenizer.log",
    benchmark:
        f"{BENCHMARKS}/tokenizer.tsv"
    conda:
        "../envs/train.yaml"
    params:
        vocab_size=config["tokenizer"]["vocab_size"],
    message:
        "Training a byte-level BPE tokenizer on the world's text"
    shell:
        "python -m train_tokenizer --texts {input.pretrain:q} --chats {input.ift:q}"
        " --vocab-size {params.vocab_size} --out {output:q} > {log:q} 2>&1"
