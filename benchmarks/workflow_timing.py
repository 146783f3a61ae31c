"""Per-rule wall time of a finished run (from Snakemake's benchmark files) and the time of a no-op invocation.

Usage: python benchmarks/workflow_timing.py [--workdir DIR] [--results-dir results] [--configfile ...]
Prints a table: rule, jobs, total seconds, mean seconds, max seconds; then the seconds `snakemake -n` takes to
report nothing to do. Run it after `snakemake --cores all` has finished in DIR.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def rule_of(path: Path, benchmarks: Path) -> str:
    relative = path.relative_to(benchmarks)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--configfile", nargs="*", default=[])
    args = parser.parse_args()
    benchmarks = args.workdir / args.results_dir / "benchmarks"
    rows = []
    for path in sorted(benchmarks.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        rows.append({"rule": rule_of(path, benchmarks), "seconds": float(table["s"].iloc[-1])})
    if not rows:
        sys.exit(f"no benchmark files under {benchmarks}")
    frame = pd.DataFrame(rows)
    summary = frame.groupby("rule")["seconds"].agg(jobs="count", total="sum", mean="mean", max="max").round(1)
    print(summary.sort_values("total", ascending=False).to_string())
    print(f"\nsum of job wall times: {frame['seconds'].sum():.0f} s over {len(frame)} jobs")
    command = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), "-n", "--cores", "1",
               "--directory", str(args.workdir)]
    if args.configfile:
        command += ["--configfile", *args.configfile]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    nothing = "Nothing to be done" in result.stdout + result.stderr
    print(f"no-op invocation: {seconds:.1f} s ({'nothing to do' if nothing else 'JOBS PENDING'})")


if __name__ == "__main__":
    main()
