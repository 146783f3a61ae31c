"""The eval job skips lm-eval's environment report (torch's collect_env: `pip list` and ten more commands per job),
which no eval JSON keeps: within `without_environment_report()` only, and by the name lm-eval calls it."""

from __future__ import annotations

import inspect

import lm_eval.evaluator
import pytest
import torch.utils.collect_env

from iftforget.library_patches import without_environment_report

pytestmark = pytest.mark.unit


@pytest.fixture
def collected(monkeypatch) -> list[str]:
    """Calls of torch's collect_env report (replaced by a recorder: the real one takes seconds)."""
    calls: list[str] = []
    monkeypatch.setattr(torch.utils.collect_env, "get_pretty_env_info", lambda: calls.append("collected") or "env")
    return calls


def test_simple_evaluate_collects_no_environment_report_inside_the_block_only(collected):
    original = lm_eval.evaluator.add_env_info
    inside: dict = {}
    with without_environment_report():
        lm_eval.evaluator.add_env_info(inside)
    assert collected == [] and "not collected" in inside["pretty_env_info"]
    assert lm_eval.evaluator.add_env_info is original

    outside: dict = {}
    lm_eval.evaluator.add_env_info(outside)
    assert collected == ["collected"] and outside["pretty_env_info"] == "env"


def test_simple_evaluate_still_calls_the_report_by_the_swapped_name():
    """If lm-eval stops calling lm_eval.evaluator.add_env_info from simple_evaluate, the swap does nothing: this
    fails instead of every eval job silently paying the report again."""
    assert "add_env_info" in inspect.unwrap(lm_eval.evaluator.simple_evaluate).__code__.co_names
