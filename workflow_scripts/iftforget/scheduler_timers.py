"""A work-around for Snakemake's re-evaluation timers (Snakemake issue 2967), called from the Snakefile's onsuccess
and onerror hooks.

With a submission limit (`max-jobs-per-timespan`, on by default) Snakemake's job scheduler starts a
`threading.Timer(timespan)` at the end of every scheduling round, and every timer that fires runs another round,
which starts another timer: each finished job adds a chain that re-runs the scheduler once per timespan for the rest
of the run. At the default 100/1s a study run of a few hundred jobs spends a growing share of a core re-scheduling
(40 % of one at 130 finished jobs). A longer timespan (the workflow profile's) makes that negligible, but the timers
are non-daemon threads, and Python waits for each to fire before the process exits: up to a timespan after the last
job. Cancelling them once the run has ended (nothing is left to schedule) lets Snakemake exit at once.
"""

from __future__ import annotations

import threading

SCHEDULER_MODULE = "snakemake.scheduling"  # where the scheduler's timer callbacks are defined


def is_scheduler_timer(thread: threading.Thread) -> bool:
    """A pending timer whose callback belongs to Snakemake's job scheduler (not any other timer of the process)."""
    function = getattr(thread, "function", None)
    return isinstance(thread, threading.Timer) and getattr(function, "__module__", "").startswith(SCHEDULER_MODULE)


def cancel_scheduler_timers() -> int:
    """Cancel every pending re-evaluation timer of Snakemake's scheduler; returns how many were pending."""
    timers = [thread for thread in threading.enumerate() if is_scheduler_timer(thread)]
    for timer in timers:
        timer.cancel()
    return len(timers)
