"""Snakemake's submission limit side by side: a preset from scratch on two fresh clones, one after the other, with
the workflow profile's `max-jobs-per-timespan` (and the Snakefile's timer cancel) and with Snakemake's default 100/1s.

Usage: python benchmarks/scheduler_limit.py [--rev REV] [--preset study] [--root /tmp/scheduler-limit]
Prints a table: setting, exit status, wall seconds, Snakemake's elapsed time, the main process's own CPU seconds
(read from /proc every 5 s), jobs finished. Run it on an otherwise idle machine (docs/speed.md has the study preset's).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETTINGS = {"profile": [], "default 100/1s": ["--max-jobs-per-timespan", "100/1s"]}
SAMPLE_SECONDS = 5


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of one process so far (Linux /proc), or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_run(clone: Path, preset: str, extra: list[str], log: Path) -> dict[str, object]:
    """One Snakemake run of `preset` in `clone`, its wall time and its main process's CPU time."""
    command = [str(Path(sys.executable).with_name("snakemake")), "--cores", "all", "--configfile", "config.yaml",
               f"presets/{preset}.yaml", *extra]
    # The jobs' `python` is this one, and the clone's own library comes first (this Python's install of the workflow
    # is another checkout's).
    bin_dir = str(Path(sys.executable).parent)
    environment = os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                                "PYTHONPATH": str(clone / "workflow_scripts")}
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=clone, env=environment, stdout=out, stderr=subprocess.STDOUT)
        cpu = 0.0
        while True:
            cpu = process_cpu_seconds(process.pid) or cpu
            try:
                process.wait(timeout=SAMPLE_SECONDS)  # returns as soon as Snakemake exits: the wall time is exact
                break
            except subprocess.TimeoutExpired:
                continue
    wall = time.perf_counter() - started
    text = log.read_text(errors="replace")
    elapsed = re.search(r"Elapsed time: (\S+)", text)
    return {"rc": process.returncode, "wall_s": round(wall, 1), "elapsed": elapsed.group(1) if elapsed else "-",
            "snakemake_cpu_s": round(cpu, 1), "jobs": text.count("Finished jobid")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="HEAD", help="the commit to clone (default: HEAD of this checkout)")
    parser.add_argument("--preset", default="study", help="presets/<name>.yaml layered on config.yaml")
    parser.add_argument("--root", type=Path, default=Path("/tmp/scheduler-limit"), help="where the clones go")
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (setting, extra) in enumerate(SETTINGS.items()):
        clone = args.root / f"clone-{index}"
        if clone.exists():
            raise SystemExit(f"{clone} exists: give an empty --root (each side runs from scratch)")
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", args.rev], check=True)
        rows.append({"setting": setting} | timed_run(clone, args.preset, extra, args.root / f"clone-{index}.log"))
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[column]) for column in columns))


if __name__ == "__main__":
    main()
