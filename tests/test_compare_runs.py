"""The comparison of two runs' results (benchmarks/compare_runs.py): a changed score is a difference, a changed
timing is not, and a field or file of one run only is listed apart."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.unit

sys.path.insert(0, str(REPO / "benchmarks"))
from compare_runs import main  # noqa: E402

EVAL = "eval/m/rep0/base/world_completion.json"


def results(folder: Path, score: float = 0.5, seconds: float = 8.46, **extra) -> Path:
    """A tiny results folder: one eval JSON and the two tables."""
    record = {"task": "world_completion", "score": score, "items": [{"id": "a", "exact_match": score}],
              "harness": {"seconds": seconds, "task_config": {"dataset_kwargs": {"data_files": {
                  "test": str(folder / "world/rep0/completion.jsonl")}}}}, **extra}
    (folder / EVAL).parent.mkdir(parents=True)
    (folder / EVAL).write_text(json.dumps(record))
    (folder / "analysis").mkdir()
    for table in ("forgetting", "pooled"):
        (folder / "analysis" / f"{table}.csv").write_text(f"task,step,value\nworld_completion,5,{score}\n")
    return folder


def test_a_changed_score_is_a_difference(tmp_path: Path, capsys):
    status = main([str(results(tmp_path / "a")), str(results(tmp_path / "b", score=0.25))])
    out = capsys.readouterr().out
    assert status == 1
    assert f"differs: {EVAL}: items[].exact_match (1x), score (1x)" in out
    assert "| analysis/pooled.csv | 1 | 0 | 1 | 0 | 0 |" in out


def test_a_changed_timing_and_path_are_ignored_and_a_new_field_or_file_is_listed_apart(tmp_path: Path, capsys):
    a, b = results(tmp_path / "a"), results(tmp_path / "b", seconds=9.9, new_key="metadata")
    (b / "eval/m/rep0/base/world_chat.json").write_text("{}")
    status = main([str(a), str(b)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "| eval JSONs | 1 | 1 | 0 | 0 | 1 |" in out
    assert "ignored: harness.seconds differs in 1 eval JSONs" in out
    assert "ignored: harness.task_config.dataset_kwargs.data_files.test differs in 1 eval JSONs" in out
    assert "field only in B (no difference): new_key, in 1 eval JSONs" in out
    assert "only in B: eval/m/rep0/base/world_chat.json" in out
