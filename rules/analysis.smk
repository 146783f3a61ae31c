# Analysis: pseudo vs actual forgetting per comparison (paired bootstrap over items), the tidy table, and the figures.
# Every rule here reads eval JSONs or files computed from them, never a model, so the figures can be redrawn from
# cached evals with the model directories deleted (README: "Figures from cached results").


rule figures:
    input:
        PLAN.targets(),


rule analyze:
    input:
        lambda wildcards: PLAN.group_eval_files((wildcards.model, wildcards.dataset, int(wildcards.seed))),
    output:
        [LAYOUT.pattern("comparison", task=task) for task in GRID.tasks],
    log:
        LAYOUT.log("analyze", GROUP_PATTERN),
    benchmark:
        LAYOUT.benchmark("analyze", GROUP_PATTERN)
    conda:
        "../envs/analysis.yaml"
    params:
        plan=lambda wildcards: as_json(PLAN.analysis_plan((wildcards.model, wildcards.dataset, int(wildcards.seed)))),
        settings=as_json(config["analysis"]),
    message:
        "Measuring pseudo vs actual forgetting of {wildcards.model}/{wildcards.dataset} (seed {wildcards.seed}) "
        "with {config[analysis][bootstrap_resamples]} paired bootstrap resamples"
    shell:
        "python -m analyze --plan {params.plan:q} --settings {params.settings:q} > {log:q} 2>&1"


rule forgetting_table:
    input:
        PLAN.comparison_jsons(),
    output:
        csv=report(
            PLAN.table_file("csv"),
            caption="../report/table.rst",
            category=FIGURE_CATEGORIES["table"],
            labels={"table": "forgetting (tidy)", "format": "CSV"},
        ),
        html=report(
            PLAN.table_file("html"),
            caption="../report/table.rst",
            category=FIGURE_CATEGORIES["table"],
            labels={"table": "forgetting (tidy)", "format": "HTML"},
        ),
    log:
        LAYOUT.log("forgetting_table"),
    benchmark:
        LAYOUT.benchmark("forgetting_table")
    conda:
        "../envs/analysis.yaml"
    params:
        n=len(PLAN.comparison_jsons()),
    message:
        "Writing the tidy forgetting table of {params.n} comparisons"
    shell:
        "python -m forgetting_table --out {output.csv:q} --html {output.html:q} {input:q} > {log:q} 2>&1"


rule plot_figures:
    input:
        PLAN.comparison_jsons(),
    output:
        [
            report(
                path,
                caption=f"../report/{kind}.rst",
                category=FIGURE_CATEGORIES[kind],
                subcategory=subcategory,
                labels=labels,
            )
            for path, kind, subcategory, labels in PLAN.figure_specs()
        ],
    log:
        LAYOUT.log("plot_figures"),
    benchmark:
        LAYOUT.benchmark("plot_figures")
    conda:
        "../envs/analysis.yaml"
    # One job draws every figure in parallel processes (Snakemake caps the threads at --cores): the libraries are
    # imported once, not once per figure.
    threads: 2
    params:
        plan=as_json(PLAN.figure_plan()),
        n=len(PLAN.figure_plan()),
        comparisons=len(PLAN.comparison_jsons()),
    message:
        "Drawing {params.n} figures of {params.comparisons} comparisons"
    shell:
        "python -m plot_figures --plan {params.plan:q} --processes {threads} {input:q} > {log:q} 2>&1"
