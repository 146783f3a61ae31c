"""The eval job's request cache (iftforget.request_store): the same SQLite file lm-eval's own cache reads and
writes, each answer stored once, and what was committed kept when the job is killed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlitedict import SqliteDict

from iftforget.library_patches import cheap_request_cache
from iftforget.request_store import RequestStore

pytestmark = pytest.mark.unit


def stored(path) -> dict:
    """What a plain SqliteDict (as lm-eval opens the cache) reads from the file."""
    plain = SqliteDict(str(path))
    try:
        return dict(plain.items())
    finally:
        plain.close()


def test_answers_written_by_the_store_are_read_by_lm_evals_own_cache_and_back(tmp_path):
    path = str(tmp_path / "requests_rank0.db")
    store = RequestStore(path)
    answers = {f"request-{i}": (-float(i), i % 2 == 0) for i in range(50)}
    for key, value in answers.items():
        store[key] = value
    store.commit()
    store.close()
    assert stored(path) == answers
    plain = SqliteDict(path)  # how lm-eval opens it (there with autocommit)
    plain["written by lm-eval"] = "an answer"
    plain.commit()
    plain.close()
    reopened = RequestStore(path)
    assert "written by lm-eval" in reopened and reopened["written by lm-eval"] == "an answer"
    assert len(reopened) == len(answers) + 1
    reopened.close()


def test_an_answer_written_again_unchanged_is_not_written_twice(tmp_path):
    store = RequestStore(str(tmp_path / "requests.db"))
    store["a"] = (-1.5, True)
    store["a"] = (-1.5, True)  # lm-eval's second write of the same answer, after the batch
    assert store.written == 1
    store["a"] = (-2.0, False)  # a different answer is stored
    assert store.written == 2 and store["a"] == (-2.0, False)
    store.close()


KILLED_WRITER = """
import os, sys
from iftforget.request_store import RequestStore
store = RequestStore(sys.argv[1], commit_every=100)
for i in range(250):
    store[f"request-{i}"] = float(i)
os._exit(1)  # killed: no commit, no close
"""


def test_a_killed_job_keeps_every_answer_committed_before_it_died(tmp_path):
    path = tmp_path / "requests.db"
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=False, env={})
    kept = stored(path)
    assert len(kept) >= 200, len(kept)  # two commits of 100 happened before the kill
    assert all(kept[f"request-{i}"] == float(i) for i in range(200))


def test_simple_evaluate_builds_its_cache_over_the_store_inside_the_block_only(tmp_path):
    import lm_eval.api.model

    original = lm_eval.api.model.CachingLM
    with cheap_request_cache() as stores:
        assert lm_eval.api.model.CachingLM is not original
        caching = lm_eval.api.model.CachingLM(_NoModel(), str(tmp_path / "cache" / "requests_rank0.db"))
        assert isinstance(caching, original) and stores == [caching.dbdict]
        caching.dbdict["k"] = 1.0
    assert lm_eval.api.model.CachingLM is original
    assert stored(tmp_path / "cache" / "requests_rank0.db") == {"k": 1.0}


class _NoModel:
    """Only what CachingLM asks of a model when it is built."""

    def set_cache_hook(self, hook):
        self.hook = hook
