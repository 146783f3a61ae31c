# Pattern shifting or knowledge losing? The forgetting study of instruction fine-tuning as a Snakemake workflow.
# Default target: every eval JSON of the grid and the tidy summary (see README.md).

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/world.smk"
include: "rules/pretrain.smk"
include: "rules/ift.smk"
include: "rules/restore.smk"
include: "rules/evaluate.smk"
include: "rules/summarize.smk"


rule all:
    input:
        all_targets(),
    default_target: True
