"""Per-rule wall time of a finished run (from Snakemake's benchmark files) and the time of a no-op invocation.

Usage: python benchmarks/workflow_timing.py [--workdir DIR] [--results-dir results] [--configfile ...]
Prints a table: rule, jobs, total seconds, mean seconds, max seconds; the wall time of each finished Snakemake
invocation in DIR (from Snakemake's own logs); then the seconds `snakemake -n` takes to report nothing to do. Run it
after `snakemake --cores all` has finished in DIR.
"""

from __future__ import annotations

import argparse
import re
import shutil
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
    for log in sorted((args.workdir / ".snakemake" / "log").glob("*.snakemake.log")):
        text = log.read_text(errors="replace")
        elapsed = re.search(r"Elapsed time: (\S+)", text)
        done = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
        if elapsed and done:
            print(f"invocation {log.name}: {done[-1][1]} jobs in {elapsed.group(1)} (Snakemake's elapsed time)")
    command = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"), "-n", "--cores", "1",
               "--directory", str(args.workdir)]
    if args.configfile:
        command += ["--configfile", *args.configfile]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    nothing = "Nothing to be done" in result.stdout + result.stderr
    print(f"no-op invocation: {seconds:.1f} s ({'nothing to do' if nothing else 'JOBS PENDING'})")
    if shutil.which("scontrol"):
        # The SLURM executor plugin runs `scontrol show config` when Snakemake loads it, on every invocation; where
        # the SLURM client is installed but no controller answers, that alone waits until its 10 s timeout.
        started = time.perf_counter()
        try:
            subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            pass
        print(f"  of which the SLURM plugin's `scontrol show config` probe: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
