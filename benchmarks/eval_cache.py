"""Time of one eval job with lm-eval's own request cache against the eval job's (iftforget.request_store).

Usage: python benchmarks/eval_cache.py --workdir DIR [--repeats 2]
DIR is a finished run (e.g. the default experiment). The script takes the last eval job's shell command from
Snakemake's logs in DIR, points its outputs and its request cache at a temporary folder, and runs it as a fresh
process in three ways: lm-eval's own cache (its CachingLM, autocommitting SqliteDict), the eval job's store with an
empty cache, and the store with the cache the previous run filled (a rerun). Prints a table of wall seconds and
checks that both stores give the same eval JSONs apart from the timing. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Runs the eval adapter with lm-eval's own CachingLM, i.e. without the swap iftforget.request_store makes.
LM_EVALS_OWN_CACHE = """
import contextlib, sys
import iftforget.evaluation as evaluation
evaluation.cheap_request_cache = lambda: contextlib.nullcontext([])
sys.argv = ["eval", *sys.argv[1:]]
import eval as adapter
adapter.main()
"""


def last_eval_command(workdir: Path) -> str:
    for log in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"), reverse=True):
        commands = [line.split("Shell command: ", 1)[1] for line in log.read_text().splitlines()
                    if "Shell command: " in line and " -m eval " in line]
        if commands:
            return commands[-1].split(" > ", 1)[0]
    raise SystemExit(f"no eval job's shell command in {workdir}/.snakemake/log (run the grid with printshellcmds)")


def redirected(command: str, scratch: Path) -> str:
    """The command with its eval JSONs and its request cache (its --execution's cache_dir) in `scratch`."""
    words = shlex.split(command)
    for at, word in enumerate(words):
        if "=" in word and word.endswith(".json") and "/eval/" in word:
            task, _, path = word.partition("=")
            words[at] = f"{task}={scratch / 'eval' / Path(path).name}"
    at = words.index("--execution") + 1
    words[at] = json.dumps(json.loads(words[at]) | {"cache_dir": str(scratch / "cache")}, sort_keys=True)
    return shlex.join(words)


def model_of(command: str) -> str:
    """The model an eval job's command evaluates (its --job's model)."""
    words = shlex.split(command)
    return json.loads(words[words.index("--job") + 1])["model"]


def run(command: str, workdir: Path, env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as handle:
        subprocess.run(command, shell=True, cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT,
                       check=True)
    return time.perf_counter() - started


def scores(folder: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(folder.glob("*.json")):
        payload = json.loads(path.read_text())
        payload.pop("harness", None)  # the timing
        found[path.name] = payload
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    command = last_eval_command(workdir)
    # The job's `python` is this interpreter (a virtual environment need not be activated).
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    own = command.replace("python -m eval ", f"python -c {shlex.quote(LM_EVALS_OWN_CACHE)} ", 1)
    times: dict[str, list[float]] = {"lm-eval's own cache, empty": [], "the job's store, empty": [],
                                     "the job's store, filled (a rerun)": []}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        results = {}
        for _ in range(args.repeats):
            for label, cmd, fresh in ((list(times)[0], own, True), (list(times)[1], command, True),
                                      (list(times)[2], command, False)):
                if fresh:
                    shutil.rmtree(scratch / "cache", ignore_errors=True)
                times[label].append(run(redirected(cmd, scratch), workdir, env, scratch / "job.log"))
                results[label] = scores(scratch / "eval")
    same = results[list(times)[0]] == results[list(times)[1]] == results[list(times)[2]]
    print(f"eval job of {model_of(command)} ({args.repeats} runs each)\n")
    print("| request cache | median s | runs |\n| --- | ---: | --- |")
    for label, seconds in times.items():
        print(f"| {label} | {statistics.median(seconds):.1f} | {', '.join(f'{s:.1f}' for s in seconds)} |")
    print(f"\neval JSONs identical across the three (timing aside): {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
