"""Adapter of the analysis rules: `comparisons` writes one JSON per comparison, `table` the tidy CSV of them all."""

import argparse
import json

from iftforget.analysis import AnalysisSettings, ComparisonKey, analyze_files, write_table


def run_comparisons(plan: list[dict], settings: AnalysisSettings) -> None:
    for entry in plan:
        key = ComparisonKey(**entry["key"])
        result = analyze_files(key, entry["files"], settings, entry["output"])
        k_star = "none within the grid" if result.k_star is None else int(result.k_star)
        print(f"{key.base_model}/{key.dataset}/seed{key.seed}/{key.task}: metric {result.metric}, "
              f"{result.n_items} items, stages {result.stages}, k* = {k_star} "
              f"(interval {result.k_star_interval}, found in {result.k_star_found_share:.0%} of resamples)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    comparisons = commands.add_parser("comparisons", help="analyse comparisons from their eval JSONs")
    comparisons.add_argument("--plan", required=True, type=json.loads,
                             help="JSON list of {key: {base_model, dataset, seed, task}, files: {role: path}, output}")
    comparisons.add_argument("--settings", required=True, type=json.loads, help="the config block `analysis` as JSON")
    table = commands.add_parser("table", help="concatenate comparison JSONs into the tidy CSV")
    table.add_argument("--out", required=True, help="the tidy CSV")
    table.add_argument("--html", help="the same table as an HTML page (for the report)")
    table.add_argument("comparisons", nargs="+")
    args = parser.parse_args()
    if args.command == "comparisons":
        run_comparisons(args.plan, AnalysisSettings.from_config(args.settings))
    else:
        written = write_table(args.comparisons, args.out, args.html)
        print(f"{len(written)} rows from {len(args.comparisons)} comparisons written to {args.out}")


if __name__ == "__main__":
    main()
