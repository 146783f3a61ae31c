# The tidy summary: one row per (model, task, metric) of every eval JSON of the grid.


rule summarize:
    input:
        FILES.eval_files(),
    output:
        FILES.summary_file(),
    log:
        LAYOUT.log("summarize"),
    benchmark:
        LAYOUT.benchmark("summarize")
    conda:
        "../envs/analysis.yaml"
    params:
        n=len(FILES.eval_files()),
    message:
        "Summarising {params.n} eval results into one tidy table"
    shell:
        "python -m summarize --out {output:q} {input:q} > {log:q} 2>&1"
