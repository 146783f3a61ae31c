"""Whether two runs of the same grid (two versions of the code, same config and seeds) gave the same results: every
eval JSON that both results folders hold, field by field and exactly, and the tables analysis/forgetting.csv and
analysis/pooled.csv on their shared columns (pandas' assert_frame_equal, exact). Fields that record when, where or
with which libraries a run ran (IGNORED) are left out. Files present in one run only, fields present in one
version only (a new metadata key) and columns present in one table only are listed apart and are no difference.
Prints a Markdown table of what matched and what differed; exits 1 on a difference, 2 when no eval JSON is shared.

    python benchmarks/compare_runs.py RESULTS_A RESULTS_B    # e.g. results/smoke of two clones
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pandas as pd

# Eval JSON fields that differ between two runs of the same results: dotted paths, `*` for any key or list item.
IGNORED: dict[str, str] = {
    "harness.seconds": "wall time of the model's lm-eval call: time, not a result",
    "harness.lm_eval_version": "the installed lm-eval's version: library environment, not a result",
    "harness.task_config.dataset_kwargs.data_files.*": "absolute path of the probe file, below the run's checkout",
}
TABLES = ("analysis/forgetting.csv", "analysis/pooled.csv")
Field = tuple[str, ...]  # a field's path in a JSON document; "[]" stands for any item of a list


def dotted(field: Field) -> str:
    return ".".join(field).replace(".[]", "[]")


def ignored(field: Field) -> str:
    """The pattern of IGNORED that the field matches, else ""."""
    name = ".".join(field)
    return next((pattern for pattern in IGNORED if fnmatchcase(name, pattern)), "")


def same(a: Any, b: Any) -> bool:
    """Equal values of the same JSON type (1 and 1.0 differ; NaN equals NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def field_differences(a: Any, b: Any, field: Field = ()) -> Iterator[tuple[Field, str]]:
    """(field, how) for each leaf where a and b differ: "differs", "only in A" or "only in B"."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if key not in b:
                yield (*field, key), "only in A"
            elif key not in a:
                yield (*field, key), "only in B"
            else:
                yield from field_differences(a[key], b[key], (*field, key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for x, y in zip(a, b):
            yield from field_differences(x, y, (*field, "[]"))
    elif not same(a, b):
        yield field, "differs"


def eval_jsons(results: Path) -> set[str]:
    return {str(path.relative_to(results)) for path in (results / "eval").rglob("*.json")}


def compare_evals(a: Path, b: Path) -> dict[str, Counter]:
    """Per eval JSON of both folders: a count of its differences by (dotted field, how, IGNORED pattern or "")."""
    outcome: dict[str, Counter] = {}
    for name in sorted(eval_jsons(a) & eval_jsons(b)):
        found = field_differences(json.loads((a / name).read_text()), json.loads((b / name).read_text()))
        outcome[name] = Counter((dotted(field), how, ignored(field)) for field, how in found)
    return outcome


def compare_table(a: Path, b: Path) -> tuple[str, list[str]]:
    """("identical" or "differs", details) for one table on the columns both versions have."""
    left, right = pd.read_csv(a), pd.read_csv(b)
    shared = [column for column in left.columns if column in right.columns]
    details = [f"column only in {side}: {column}" for side, table, other in (("A", left, right), ("B", right, left))
               for column in table.columns if column not in other.columns]
    try:
        pd.testing.assert_frame_equal(left[shared], right[shared], check_exact=True)
    except AssertionError as error:
        return "differs", [*details, " ".join(str(error).split())[:400]]
    return "identical", details


def row(what: str, compared: int, differ: int, only_a: int, only_b: int) -> str:
    return f"| {what} | {compared} | {compared - differ} | {differ} | {only_a} | {only_b} |"


def report(a: Path, b: Path) -> int:
    """Prints what matched and what differed; the exit status (0 identical, 1 a difference, 2 nothing to compare)."""
    evals = compare_evals(a, b)
    real = {name: Counter({field: n for (field, how, skip), n in found.items() if how == "differs" and not skip})
            for name, found in evals.items()}
    differing = [name for name, fields in real.items() if fields]
    only = {"A": sorted(eval_jsons(a) - eval_jsons(b)), "B": sorted(eval_jsons(b) - eval_jsons(a))}
    tables = {table: compare_table(a / table, b / table) for table in TABLES
              if (a / table).exists() and (b / table).exists()}
    print("| what | compared | identical | differ | only in A | only in B |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(row("eval JSONs", len(evals), len(differing), len(only["A"]), len(only["B"])))
    for table in TABLES:
        status = tables.get(table, ("", []))[0]
        print(row(table, int(table in tables), int(status == "differs"),
                  int((a / table).exists() and table not in tables), int((b / table).exists() and table not in tables)))
    lines = [f"differs: {name}: " + ", ".join(f"{field} ({count}x)" for field, count in sorted(real[name].items()))
             for name in differing]
    lines += [f"only in {side}: {name}" for side, names in only.items() for name in names]
    lines += [f"{table}: {detail}" for table, (_, details) in tables.items() for detail in details]
    added = Counter((field, how) for found in evals.values() for field, how, skip in found
                    if how != "differs" and not skip)
    lines += [f"field {how} (no difference): {field}, in {files} eval JSONs" for (field, how), files in
              sorted(added.items())]
    skipped = Counter((field, skip) for found in evals.values() for field, _, skip in found if skip)
    lines += [f"ignored: {field} differs in {files} eval JSONs ({IGNORED[skip]})"
              for (field, skip), files in sorted(skipped.items())]
    print("\n" + "\n".join(lines) if lines else "")
    if not evals:
        print("no eval JSON in both folders: nothing compared", file=sys.stderr)
        return 2
    return int(bool(differing) or any(status == "differs" for status, _ in tables.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="results folder A (results_dir of one run)")
    parser.add_argument("b", type=Path, help="results folder B")
    args = parser.parse_args(argv)
    return report(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
