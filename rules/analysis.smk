# Analysis: pseudo vs actual forgetting per comparison (paired bootstrap over items), the tidy table, and the figures.
# Every rule here reads eval JSONs or files computed from them, never a model, so the figures can be redrawn from
# cached evals with the model directories deleted (README: "Figures from cached results").

from iftforget.analysis_layout import FIGURE_CATEGORIES, FIGURE_FORMATS, AnalysisLayout

LAYOUT = AnalysisLayout(GRID, config["analysis"])


rule figures:
    input:
        LAYOUT.targets(),


rule analyze_comparisons:
    input:
        lambda wildcards: LAYOUT.group_eval_files(wildcards.model, wildcards.dataset, wildcards.seed),
    output:
        [LAYOUT.comparison_json("{model}", "{dataset}", "{seed}", task) for task in GRID.tasks],
    log:
        f"{LOGS}/analysis/{{model}}/{{dataset}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/analysis/{{model}}/{{dataset}}/seed{{seed}}.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        plan=lambda wildcards: LAYOUT.analysis_plan(wildcards.model, wildcards.dataset, wildcards.seed),
        settings=as_json(config["analysis"]),
    message:
        "Measuring pseudo vs actual forgetting of {wildcards.model}/{wildcards.dataset} (seed {wildcards.seed}) "
        "with {config[analysis][bootstrap_resamples]} paired bootstrap resamples"
    shell:
        "python -m analyze_forgetting comparisons --plan {params.plan:q} --settings {params.settings:q} > {log:q} 2>&1"


rule forgetting_table:
    input:
        LAYOUT.comparison_jsons(),
    output:
        csv=report(
            LAYOUT.table_file("csv"),
            caption="../report/table.rst",
            category=FIGURE_CATEGORIES["table"],
            labels={"table": "forgetting (tidy)", "format": "CSV"},
        ),
        html=report(
            LAYOUT.table_file("html"),
            caption="../report/table.rst",
            category=FIGURE_CATEGORIES["table"],
            labels={"table": "forgetting (tidy)", "format": "HTML"},
        ),
    log:
        f"{LOGS}/analysis/forgetting_table.log",
    benchmark:
        f"{BENCHMARKS}/analysis/forgetting_table.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        n=len(LAYOUT.comparison_jsons()),
    message:
        "Writing the tidy forgetting table of {params.n} comparisons"
    shell:
        "python -m analyze_forgetting table --out {output.csv:q} --html {output.html:q} {input:q} > {log:q} 2>&1"


rule plot_figures:
    input:
        LAYOUT.comparison_jsons(),
    output:
        [
            report(
                path,
                caption=f"../report/{kind}.rst",
                category=FIGURE_CATEGORIES[kind],
                subcategory=subcategory,
                labels=labels,
            )
            for path, kind, subcategory, labels in LAYOUT.figure_specs()
        ],
    log:
        f"{LOGS}/figures.log",
    benchmark:
        f"{BENCHMARKS}/figures.tsv"
    conda:
        "../envs/analysis.yaml"
    # One job draws every figure in parallel processes (Snakemake caps the 4 at --cores): the libraries are
    # imported once, not once per figure.
    threads: 2
    params:
        plan=as_json(LAYOUT.figure_plan()),
        n=len(LAYOUT.figure_plan()),
        comparisons=len(LAYOUT.comparison_jsons()),
    message:
        "Drawing {params.n} figures of {params.comparisons} comparisons"
    shell:
        "python -m plot_figures --plan {params.plan:q} --processes {threads} {input:q} > {log:q} 2>&1"
