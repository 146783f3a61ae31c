"""The committed eval caches (iftforget.eval_cache): every eval JSON of a run, unpacked where the figures-from-cache
command reads it, with each item's score exact and only the multiple-choice log-likelihoods rounded."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from conftest import SMOKE_FILES
from iftforget.eval_cache import grid_eval_files, pack

pytestmark = pytest.mark.unit


def eval_json(items: list[dict]) -> dict:
    return {"format_version": 1, "task": "t", "score": 0.5, "items": items}


def test_the_archive_holds_every_eval_json_at_its_path_with_scores_exact_and_loglikelihoods_rounded(tmp_path: Path,
                                                                                                   monkeypatch):
    root = Path("results/run")
    files = {root / "eval/m/rep0/base/world_mc_completion.json":
             eval_json([{"id": "a", "acc": 1.0, "loglikelihoods": [-1.23456789, -0.0004999]}]),
             root / "eval/m/rep0/base/world_completion.json": eval_json([{"id": "a", "exact_match": 0.0}])}
    for path, record in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(json.dumps(record))
    out = tmp_path / "evals.tar.xz"
    (tmp_path / "unpacked").mkdir()
    monkeypatch.chdir(tmp_path)  # the archive's paths are those below the working directory, as a run has them
    assert pack(root, out) == 2
    with tarfile.open(out) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
        assert sorted(archive.getnames()) == sorted(map(str, files))
    mc = json.loads((tmp_path / "unpacked" / root / "eval/m/rep0/base/world_mc_completion.json").read_text())
    assert mc["items"] == [{"id": "a", "acc": 1.0, "loglikelihoods": [-1.235, -0.0]}]
    assert mc["score"] == 0.5 and mc["task"] == "t"
    completion = json.loads((tmp_path / "unpacked" / root / "eval/m/rep0/base/world_completion.json").read_text())
    assert completion == files[root / "eval/m/rep0/base/world_completion.json"]


def test_an_add_on_archive_holds_only_the_evals_that_the_archives_it_builds_on_lack(tmp_path: Path, monkeypatch):
    root = Path("results/run")
    first = [root / "eval/m/rep0/base/world_completion.json"]
    second = [root / "eval/m/rep0/restored/d/seed0/step8/fresh/r50/world_completion.json"]
    added = [root / "eval/m/rep0/restored/d/seed0/step8/fresh/r800/world_completion.json"]
    monkeypatch.chdir(tmp_path)

    def write(paths: list[Path], score: float) -> None:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(eval_json([{"id": "a", "exact_match": score}])))

    write(first, 1.0)
    assert pack(root, tmp_path / "first.tar.xz") == 1
    write(second, 0.0)
    assert pack(root, tmp_path / "second.tar.xz", skip_in=[tmp_path / "first.tar.xz"]) == 1
    write(added, 0.0)
    assert pack(root, tmp_path / "add-on.tar.xz", skip_in=[tmp_path / "first.tar.xz", tmp_path / "second.tar.xz"]) == 1
    with tarfile.open(tmp_path / "add-on.tar.xz") as archive:
        assert archive.getnames() == list(map(str, added))
    assert pack(root, tmp_path / "all.tar.xz") == 3
    with pytest.raises(FileNotFoundError, match="lack"):
        pack(root, tmp_path / "nothing.tar.xz", skip_in=[tmp_path / "all.tar.xz"])


def test_a_results_folder_given_as_an_absolute_path_is_refused_before_packing(tmp_path: Path):
    with pytest.raises(ValueError, match="relative to the working directory"):
        pack(tmp_path / "results", tmp_path / "evals.tar.xz")
    assert not (tmp_path / "evals.tar.xz").exists()


def test_a_configs_archive_holds_exactly_its_grids_evals_and_waits_for_every_one(tmp_path: Path, monkeypatch):
    """--configfile: a results folder shared with an unfinished add-on gives the archive of the finished run alone,
    and a run with an eval still missing gives none."""
    monkeypatch.chdir(tmp_path)
    root, needed = grid_eval_files([Path(name) for name in SMOKE_FILES])
    stray = root / "eval/world-llama/rep0/restored/qa-mix/seed0/step5/other-arm/r8/world_completion.json"
    for path in [*needed, stray]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(eval_json([{"id": "a", "exact_match": 1.0}])))
    assert pack(root, tmp_path / "run.tar.xz", only=needed) == len(needed)
    with tarfile.open(tmp_path / "run.tar.xz") as archive:
        assert sorted(archive.getnames()) == sorted(map(str, needed))
    needed[-1].unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        pack(root, tmp_path / "unfinished.tar.xz", only=needed)
    assert not (tmp_path / "unfinished.tar.xz").exists()
