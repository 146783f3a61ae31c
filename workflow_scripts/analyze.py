"""Adapter of rule `analyze`: one JSON per comparison of a group (drop, recovered, residual, stages, k*)."""

import argparse
import json

from iftforget.analysis.comparison import ComparisonKey
from iftforget.analysis.forgetting import AnalysisSettings
from iftforget.analysis.tables import analyze_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True, type=json.loads, help="JSON list of {key: {base_model, dataset, "
                        "seed, task}, models: [{kind, step, path}], output} (AnalysisPlan.analysis_plan)")
    parser.add_argument("--settings", required=True, type=json.loads, help="the config block `analysis` as JSON")
    args = parser.parse_args()
    settings = AnalysisSettings.from_config(args.settings)
    for entry in args.plan:
        key = ComparisonKey(**entry["key"])
        files = {(model["kind"], model["step"]): model["path"] for model in entry["models"]}
        result = analyze_files(key, files, settings, entry["output"])
        k_star = "none within the grid" if result.k_star is None else int(result.k_star)
        print(f"{key.base_model}/{key.dataset}/seed{key.seed}/{key.task}: metric {result.metric}, "
              f"{result.n_items} items, stages {result.stages}, k* = {k_star} "
              f"(interval {result.k_star_interval}, found in {result.k_star_found_share:.0%} of resamples)")


if __name__ == "__main__":
    main()
