# Analysis: pseudo vs actual forgetting of every run and pooled over the runs of each (base model, dataset) (paired
# bootstrap over items; replicates, then items, for the pooled result), the tidy tables, and the figures. Every rule
# here reads eval JSONs or files computed from them, never a model, so the figures can be redrawn from cached evals
# with the model directories deleted (README: "Figures from cached results").


rule figures:
    input:
        PLAN.targets(),


# The plans grow with the grid (every eval file of a pool): they reach the adapters on standard input, through the
# shell's builtin printf, since Linux starts no program with one argument over 128 KiB (ten replicates exceed it).
rule analyze:
    input:
        lambda wildcards: PLAN.pool_eval_files(*PLAN.job_pool(wildcards)),
    output:
        PLAN.pool_outputs(("{model}", "{dataset}")),
    log:
        LAYOUT.log("analyze", POOL_PATTERN),
    benchmark:
        LAYOUT.benchmark("analyze", POOL_PATTERN)
    conda:
        "../envs/analysis.yaml"
    params:
        plan=lambda wildcards: as_json(PLAN.analysis_plan(*PLAN.job_pool(wildcards))),
        settings=as_json(config["analysis"]),
    message:
        "Measuring pseudo vs actual forgetting of {wildcards.model}/{wildcards.dataset}, each run and pooled, with "
        "{config[analysis][bootstrap_resamples]} bootstrap resamples"
    shell:
        "printf '%s' {params.plan:q} | python -m analyze --plan - --settings {params.settings:q} > {log:q} 2>&1"


# The same on the corpus of a restoration arm (restore.arms): its own job and files, one level deeper, so that adding
# an arm reruns no analysis of the main corpus.
use rule analyze as analyze_arm with:
    output:
        PLAN.pool_outputs(("{model}", "{dataset}"), "{corpus}"),
    log:
        LAYOUT.log("analyze", ARM_POOL_PATTERN),
    benchmark:
        LAYOUT.benchmark("analyze", ARM_POOL_PATTERN)
    wildcard_constraints:
        corpus=one_of(AXES.arms),
    message:
        "Measuring pseudo vs actual forgetting of {wildcards.model}/{wildcards.dataset} restored on "
        "{wildcards.corpus}, each run and pooled, with {config[analysis][bootstrap_resamples]} bootstrap resamples"


# The same for the runs of an IFT variant (ift.variants), on the main corpus and on each arm: their own jobs and files,
# one level deeper, named by the variant, so that adding a variant reruns no analysis of the ift block's recipe. Local,
# like the analysis jobs of the Snakefile's localrules.
if AXES.variants:

    use rule analyze as analyze_variant with:
        output:
            PLAN.pool_outputs(("{model}", "{dataset}"), variant="{variant}"),
        log:
            LAYOUT.log("analyze", VARIANT_POOL_PATTERN),
        benchmark:
            LAYOUT.benchmark("analyze", VARIANT_POOL_PATTERN)
        wildcard_constraints:
            variant=one_of(AXES.variants),
        localrule: True
        message:
            "Measuring pseudo vs actual forgetting of {wildcards.model}/{wildcards.dataset} with the IFT recipe "
            "{wildcards.variant}, each run and pooled, with {config[analysis][bootstrap_resamples]} bootstrap "
            "resamples"

    use rule analyze as analyze_variant_arm with:
        output:
            PLAN.pool_outputs(("{model}", "{dataset}"), "{corpus}", "{variant}"),
        log:
            LAYOUT.log("analyze", VARIANT_ARM_POOL_PATTERN),
        benchmark:
            LAYOUT.benchmark("analyze", VARIANT_ARM_POOL_PATTERN)
        wildcard_constraints:
            corpus=one_of(AXES.arms),
            variant=one_of(AXES.variants),
        localrule: True
        message:
            "Measuring pseudo vs actual forgetting of {wildcards.model}/{wildcards.dataset} with the IFT recipe "
            "{wildcards.variant} restored on {wildcards.corpus}, each run and pooled, with "
            "{config[analysis][bootstrap_resamples]} bootstrap resamples"


rule forgetting_table:
    input:
        units=PLAN.comparison_jsons(),
        pooled=PLAN.pooled_jsons(),
    output:
        **{
            f"{table}_{ext}": report(
                PLAN.table_file(table, ext),
                caption=f"../report/{table}-table.rst",
                category=FIGURE_CATEGORIES["table"],
                labels={"table": table, "format": ext.upper()},
            )
            for table in ("forgetting", "pooled")
            for ext in ("csv", "html")
        },
    log:
        LAYOUT.log("forgetting_table"),
    benchmark:
        LAYOUT.benchmark("forgetting_table")
    conda:
        "../envs/analysis.yaml"
    params:
        n=len(PLAN.comparison_jsons()),
    message:
        "Writing the tidy forgetting tables of {params.n} comparisons"
    shell:
        "python -m forgetting_table --units {input.units:q} --pooled {input.pooled:q}"
        " --units-csv {output.forgetting_csv:q} --units-html {output.forgetting_html:q}"
        " --pooled-csv {output.pooled_csv:q} --pooled-html {output.pooled_html:q} > {log:q} 2>&1"


rule plot_figures:
    input:
        units=PLAN.comparison_jsons(),
        pooled=PLAN.pooled_jsons(),
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
    # One job draws every figure in two processes, so the libraries are imported once, not once per figure. It claims
    # one core: the tables and the residual's limit, which read the same JSONs, are drawn beside it, not after it.
    threads: 1
    params:
        plan=as_json(PLAN.figure_plan()),
        n=len(PLAN.figure_plan()),
    message:
        "Drawing {params.n} figures"
    shell:
        "printf '%s' {params.plan:q} | python -m plot_figures --plan - --processes 2 --units {input.units:q}"
        " --pooled {input.pooled:q} > {log:q} 2>&1"


# The residual's limit under restoration, where some step is restored at three or more budgets: a saturating curve
# per replicate, the limit pooled over replicates (iftforget.analysis.limit).
if PLAN.limit_figures():

    rule residual_limit:
        input:
            PLAN.comparison_jsons(),
        output:
            table=report(
                PLAN.table_file(LIMIT_TABLE, "csv"),
                caption="../report/limit-table.rst",
                category=FIGURE_CATEGORIES["table"],
                labels={"table": LIMIT_TABLE, "format": "CSV"},
            ),
            figures=[
                report(
                    path,
                    caption="../report/limit.rst",
                    category=FIGURE_CATEGORIES["limit"],
                    # base / dataset, and / variant for an IFT variant's figure
                    subcategory=" / ".join(
                        [figure["base_model"], figure["dataset"], *filter(None, [figure.get("ift_variant")])]
                    ),
                    labels={"figure": "residual limit", "format": path.rsplit(".", 1)[1].upper()},
                )
                for figure in PLAN.limit_figures()
                for path in figure["paths"]
            ],
        log:
            LAYOUT.log("residual_limit"),
        benchmark:
            LAYOUT.benchmark("residual_limit")
        # Seconds on one core, like the other analysis rules (localrules in the Snakefile).
        localrule: True
        conda:
            "../envs/analysis.yaml"
        params:
            figures=as_json(PLAN.limit_figures()),
            confidence=config["analysis"]["confidence"],
        message:
            "Fitting the residual's limit under restoration ({config[analysis][confidence]} intervals over replicates)"
        shell:
            "printf '%s' {params.figures:q} | python -m residual_limit --units {input:q} --confidence {params.confidence}"
            " --figures - --out {output.table:q} > {log:q} 2>&1"


# Paired contrasts where the grid has groups to contrast: each base model against the smallest, each IFT variant
# against the ift block's recipe on the same runs' worlds and seeds (iftforget.analysis.contrasts).
if PLAN.contrasts():

    rule contrast_table:
        input:
            PLAN.table_file("forgetting", "csv"),
        output:
            report(
                PLAN.table_file(CONTRAST_TABLE, "csv"),
                caption="../report/contrasts-table.rst",
                category=FIGURE_CATEGORIES["table"],
                labels={"table": CONTRAST_TABLE, "format": "CSV"},
            ),
        log:
            LAYOUT.log("contrast_table"),
        benchmark:
            LAYOUT.benchmark("contrast_table")
        localrule: True
        conda:
            "../envs/analysis.yaml"
        params:
            corpus=AXES.corpus,
            confidence=config["analysis"]["confidence"],
        message:
            "Contrasting the grid's base models and IFT recipes on paired runs ({config[analysis][confidence]} "
            "intervals over replicates)"
        shell:
            "python -m contrast_table --units {input:q} --corpus {params.corpus:q} --confidence {params.confidence}"
            " --out {output:q} > {log:q} 2>&1"
