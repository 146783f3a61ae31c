"""Adapter of rule `analyze`: every run of one (base model, dataset) and the runs pooled, per task."""

import argparse
import json

from iftforget.analysis.forgetting import AnalysisSettings
from iftforget.analysis.tables import analyze_task
from iftforget.io import json_argument


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--plan", required=True, type=json_argument, help="JSON list of tasks to analyse (AnalysisPlan."
                        "analysis_plan: units with their eval files and outputs, the pooled output, budget, margin), "
                        "or - to read it from standard input")
    parser.add_argument("--settings", required=True, type=json.loads, help="the config block `analysis` as JSON")
    args = parser.parse_args()
    settings = AnalysisSettings.from_config(args.settings)
    for entry in args.plan:
        pooled = analyze_task(entry, settings)
        name = f"{entry['base_model']}/{entry['dataset']}/{entry['task']}"
        for unit in pooled.units:
            print(f"{name} rep{unit.replicate}/seed{unit.seed}: {unit.n_items} items, stages {unit.decision.stages}, "
                  f"k* = {unit.decision.k_star}, transition test: {unit.decision.transition or 'not testable'}, "
                  f"budget {unit.decision.budget_status}")
        low, high = pooled.decision.crossing
        print(f"{name} pooled over {len(pooled.units)} runs ({pooled.decision.method}): stages "
              f"{pooled.decision.stages}, k* = {pooled.decision.k_star}, residual crosses the margin after step {low} "
              f"and by step {high}, transition test: {pooled.decision.transition or 'not testable'}, stage counts "
              f"{pooled.stage_counts}")


if __name__ == "__main__":
    main()
