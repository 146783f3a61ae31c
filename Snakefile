# Pattern shifting or knowledge losing? The forgetting study of instruction fine-tuning as a Snakemake workflow.
# Default target: every eval JSON of the grid, the tidy summary, the forgetting table and the figures (README.md).
# Where each artifact lives is defined once, in workflow_scripts/iftforget/paths.py.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/world.smk"
include: "rules/prefetch.smk"
include: "rules/data.smk"
include: "rules/pretrain.smk"
include: "rules/ift.smk"
include: "rules/restore.smk"
include: "rules/eval.smk"
include: "rules/summarize.smk"
include: "rules/analysis.smk"


rule all:
    default_target: True
    input:
        all_targets(),
