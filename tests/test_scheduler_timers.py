"""The work-around for Snakemake's re-evaluation timers (iftforget.library_patches): at the end of a run the
Snakefile's hooks cancel the scheduler's pending timers, so that Snakemake exits with its last job and not up to a
timespan of the workflow profile's max-jobs-per-timespan later, and no other timer of the process is touched. That
the hooks find Snakemake's own timers in a real run is checked by tests/test_figures_from_cache.py."""

from __future__ import annotations

import threading

import pytest

from iftforget.library_patches import cancel_scheduler_timers, is_scheduler_timer

pytestmark = pytest.mark.unit


def callback_of(module: str):
    def release() -> None:
        pass

    release.__module__ = module
    return release


def test_only_the_schedulers_pending_timers_are_cancelled():
    scheduler = threading.Timer(3600, callback_of("snakemake.scheduling.job_scheduler"))
    other = threading.Timer(3600, callback_of("somebody.else"))
    scheduler.start()
    other.start()
    try:
        assert is_scheduler_timer(scheduler) and not is_scheduler_timer(other)
        assert not is_scheduler_timer(threading.current_thread())
        assert cancel_scheduler_timers() == 1
        scheduler.join(timeout=60)
        assert not scheduler.is_alive(), "a cancelled timer ends at once"
        assert other.is_alive() and not other.finished.is_set(), "another timer of the process is left alone"
    finally:
        other.cancel()
        scheduler.cancel()
