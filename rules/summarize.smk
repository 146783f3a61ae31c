# The tidy summary: one row per (model, task, metric) of every eval JSON of the grid.


rule summarize:
    input:
        GRID.eval_files(),
    output:
        GRID.summary_file(),
    log:
        f"{LOGS}/summarize.log",
    benchmark:
        f"{BENCHMARKS}/summarize.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        n=len(GRID.eval_files()),
    message:
        "Summarising {params.n} eval results into one tidy table"
    shell:
        "python -m summarize_evals --out {output:q} {input:q} > {log:q} 2>&1"
