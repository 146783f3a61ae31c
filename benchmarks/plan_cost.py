"""Cost planner: the GPU-hours and disk a config's grid plans, per rule and in total. Every number it prints is an
estimate from the assumptions it lists (parameter counts, token counts, a stated throughput), not a measurement.

Usage: python benchmarks/plan_cost.py [--configfile config.yaml presets/paper.yaml] [--peak-tflops 989]
           [--train-mfu 0.4] [--eval-mfu 0.1]
Run it in the working directory of the run (local paths in the config are relative to it). The config files are
layered and validated as Snakemake's --configfile does; the throughput options override the config's `costs` block.
The jobs are the workflow's own (iftforget.grid), so each rule's job count is what `snakemake -n` plans in an empty
working directory; the model sizes come from each base model's config.json where it is on this machine, else from
`base_models[].parameters` (schemas/config.schema.yaml documents every `costs` key). The estimates themselves are
computed in benchmarks/cost_model.py (with the model sizes of model_sizes.py), printed by cost_report.py, beside
this script.
"""

from __future__ import annotations

import argparse
import sys

from iftforget.config import check_config, load_config_files
from iftforget.schema import ConfigError

from cost_model import plan_costs  # beside this script
from cost_report import format_plan  # beside this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", nargs="+", default=["config.yaml"], help="config files, layered in order")
    parser.add_argument("--peak-tflops", type=float, help="peak TFLOP/s of one GPU (costs.gpu_peak_tflops)")
    parser.add_argument("--train-mfu", type=float, help="model FLOPs utilisation of training (costs.train_mfu)")
    parser.add_argument("--eval-mfu", type=float, help="model FLOPs utilisation of evaluation (costs.eval_mfu)")
    args = parser.parse_args()
    config = load_config_files(args.configfile)
    overrides = {"gpu_peak_tflops": args.peak_tflops, "train_mfu": args.train_mfu, "eval_mfu": args.eval_mfu}
    config.setdefault("costs", {}).update({key: value for key, value in overrides.items() if value is not None})
    try:
        check_config(config)
        plan = plan_costs(config)
    except ConfigError as error:
        sys.exit(f"invalid config: {error}")
    print(format_plan(plan, " + ".join(args.configfile)))


if __name__ == "__main__":
    main()
