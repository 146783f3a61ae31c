"""Every place where this workflow changes another library's internals, each checked against the release it was
written for.

Each patch below exists because the library has no public option for what it does (the reason is in its docstring),
and each rests on internals that a new release may move. `check_release` compares the installed release with the one
the patch was written against (`CHECKED_RELEASES`, the releases requirements.txt pins) and stops with a message
naming the patch, rather than letting a moved internal fail silently or change a result:

- lm-eval: `cheap_request_cache` (its request cache's store) and `without_environment_report` (its environment
  report), used by every eval job;
- accelerate: `allow_fsdp_on_cpu` (FSDP for a CPU process group), used by a CPU training job launched to shard;
- Snakemake: `cancel_scheduler_timers` (its scheduler's re-evaluation timers), called from the Snakefile's hooks and
  checked when the Snakefile is read.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

from iftforget.request_store import RequestStore

#: The major.minor release of each patched library that the patches were written against.
CHECKED_RELEASES = {"lm_eval": "0.4", "accelerate": "1.15", "snakemake": "9.27"}
_DISTRIBUTIONS = {"lm_eval": "lm-eval", "accelerate": "accelerate", "snakemake": "snakemake"}
_PATCHES = {
    "lm_eval": "cheap_request_cache (lm_eval.api.model.CachingLM) and without_environment_report "
               "(lm_eval.evaluator.add_env_info)",
    "accelerate": "allow_fsdp_on_cpu (accelerate.state.AcceleratorState.__init__)",
    "snakemake": "cancel_scheduler_timers (the threading.Timer callbacks of snakemake.scheduling)",
}


def check_release(package: str, installed: str | None = None) -> None:
    """Stop with a message naming the patch when `package` (installed: its release) is not the release the patch
    was written against."""
    installed = installed or version(_DISTRIBUTIONS[package])
    checked = CHECKED_RELEASES[package]
    if installed.split(".")[:len(checked.split("."))] != checked.split("."):
        raise RuntimeError(
            f"iftforget.library_patches patches {package}: {_PATCHES[package]}, written against {package} {checked}.x; "
            f"this is {package} {installed}. Check the patch against this release (or install the release that "
            f"requirements.txt pins) and update CHECKED_RELEASES."
        )


# --- lm-eval ------------------------------------------------------------------------------------------------------
# Its request cache (`simple_evaluate(use_cache=...)`) commits every answer twice, one SQLite commit each, and has no
# option for its store: a third of an eval job (iftforget.request_store says why, and what replaces it).
def _caching_lm_class() -> type:
    from lm_eval.api.model import CachingLM

    class RequestCachingLM(CachingLM):
        """lm-eval's CachingLM over a `RequestStore` (its own __init__, with the store swapped; the lookups, the
        hook and the per-batch commit are lm-eval's)."""

        stores: list[RequestStore] = []

        # Not calling super().__init__(): it would open the autocommitting store this class replaces.
        def __init__(self, lm: Any, cache_db: str) -> None:
            self.lm = lm
            self.cache_db = cache_db
            if os.path.dirname(cache_db):
                os.makedirs(os.path.dirname(cache_db), exist_ok=True)
            self.dbdict = RequestStore(cache_db)
            RequestCachingLM.stores.append(self.dbdict)
            lm.set_cache_hook(self.get_cache_hook())

    return RequestCachingLM


@contextlib.contextmanager
def cheap_request_cache() -> Iterator[list[RequestStore]]:
    """Within this block, `simple_evaluate(use_cache=...)` keeps its requests in a `RequestStore`. Yields the stores
    it opened (one per cache file), committed and closed on leaving the block."""
    import lm_eval.api.model

    check_release("lm_eval")
    caching_lm = _caching_lm_class()
    original = lm_eval.api.model.CachingLM
    lm_eval.api.model.CachingLM = caching_lm  # simple_evaluate looks the class up here when it builds the cache
    try:
        yield caching_lm.stores
    finally:
        lm_eval.api.model.CachingLM = original
        for store in caching_lm.stores:
            store.commit()
            store.close()


@contextlib.contextmanager
def without_environment_report() -> Iterator[None]:
    """Within this block, lm-eval's `simple_evaluate` does not collect its environment report: torch's collect_env,
    which runs `pip list` and ten other commands, 1.5 s of every eval job, for results fields (pretty_env_info and
    the versions beside it) that no eval JSON keeps. lm-eval calls it unconditionally, by the name it imported into
    lm_eval.evaluator; that name is swapped for the duration of the block."""
    import lm_eval.evaluator

    check_release("lm_eval")
    original = lm_eval.evaluator.add_env_info
    lm_eval.evaluator.add_env_info = _no_environment_report
    try:
        yield
    finally:
        lm_eval.evaluator.add_env_info = original


def _no_environment_report(storage: dict[str, Any]) -> None:
    storage["pretty_env_info"] = "not collected (iftforget.library_patches.without_environment_report)"


# --- accelerate: FSDP on CPU --------------------------------------------------------------------------------------
# `accelerate launch` with an FSDP config (accelerate/fsdp.yaml) tells every process to shard (ACCELERATE_USE_FSDP),
# and `Accelerator` builds the FSDP plugin from that config, but `AcceleratorState.__init__` (accelerate 1.15) switches
# the distributed type to FSDP only for accelerator devices (MULTI_GPU, MULTI_XPU, ...): a CPU process group (gloo)
# stays MULTI_CPU and is wrapped in DDP, every process holding every parameter. PyTorch's FSDP2 (`fully_shard`) runs
# on a CPU device mesh with gloo, so on CPU the switch below makes the one decision accelerate makes on a GPU; the
# wrapping, the state-dict gathering, the sharded optimizer and its checkpoints stay accelerate's and transformers'
# own code, configured by the same file. A GPU process never reaches it.
def fsdp_requested() -> bool:
    """Whether the launcher asked this process to shard (`accelerate launch` with distributed_type FSDP)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def allow_fsdp_on_cpu() -> None:
    """Make accelerate select FSDP for a CPU process group when the launcher asked for it, as it does on GPUs.
    Call before the Trainer creates its Accelerator; calling it again changes nothing. Another accelerate release
    than the one checked is an error naming this switch, not a silent fallback."""
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    check_release("accelerate")

    library_init = AcceleratorState.__init__
    if getattr(library_init, "selects_fsdp_on_cpu", False):
        return

    @functools.wraps(library_init)
    def init(self: AcceleratorState, *args: Any, **kwargs: Any) -> None:
        library_init(self, *args, **kwargs)
        fsdp_plugin = kwargs.get("fsdp_plugin")
        if self.distributed_type == DistributedType.MULTI_CPU and fsdp_plugin is not None:
            # What the accelerator-device branch of AcceleratorState.__init__ does with the plugin.
            if self._mixed_precision != "no":
                fsdp_plugin.set_mixed_precision(self._mixed_precision)
            self.fsdp_plugin = fsdp_plugin
            self.distributed_type = DistributedType.FSDP
            PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    init.selects_fsdp_on_cpu = True  # type: ignore[attr-defined]
    AcceleratorState.__init__ = init  # type: ignore[method-assign]


# --- Snakemake: the scheduler's re-evaluation timers (Snakemake issue 2967) ----------------------------------------
# With a submission limit (`max-jobs-per-timespan`) the job scheduler starts a `threading.Timer(timespan)` at the end
# of every scheduling round, and each timer that fires runs another round that starts another: each finished job adds
# a chain that re-runs the scheduler once per timespan. The workflow profile's long timespan makes that negligible,
# but the timers are non-daemon threads that Python waits for before the process exits, up to a timespan after the
# last job. The Snakefile's onsuccess and onerror hooks cancel them once nothing is left to schedule.
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
