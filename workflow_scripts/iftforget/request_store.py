"""lm-eval's request cache, written the way an eval job needs it.

lm-eval's `CachingLM` (what `simple_evaluate(use_cache=...)` builds) keeps its answers in a `SqliteDict` opened with
`autocommit=True`: every answer is written twice (once by the cache hook during the forward passes, once more after
them) and every write waits for its own SQLite commit, with a stack trace recorded per statement. Profiled on one
study eval job that was a third of the job's time. lm-eval builds that SqliteDict itself and has no option for it, so
`iftforget.library_patches.cheap_request_cache()` swaps in `RequestCachingLM`, lm-eval's class with only the store
replaced by `RequestStore`: the same SQLite file and table (a cache written by either is read by the other), held in
memory, each answer written once, committed in batches. What was committed survives a killed job, which then asks the
model only what was not; lm-eval itself commits at the end of each request type."""

from __future__ import annotations

from typing import Any

from sqlitedict import SqliteDict

#: Answers written between two commits: a killed job loses at most this many (a few seconds of evaluation).
COMMIT_EVERY = 1024


class RequestStore(SqliteDict):
    """A SqliteDict read once into memory, whose writes go to SQLite in the background, once per key and value,
    committed (waiting for it) every `commit_every` writes and whenever `commit()` is called, as lm-eval does after
    each batch of requests. Lookups never wait for the SQLite thread."""

    def __init__(self, filename: str, commit_every: int = COMMIT_EVERY) -> None:
        super().__init__(filename, autocommit=False, outer_stack=False)
        self.memory: dict[str, Any] = dict(super().items())
        self.commit_every = commit_every
        self.written = 0
        self.uncommitted = 0

    def __contains__(self, key: object) -> bool:
        return key in self.memory

    def __getitem__(self, key: str) -> Any:
        return self.memory[key]

    def __len__(self) -> int:
        return len(self.memory)

    def __setitem__(self, key: str, value: Any) -> None:
        # lm-eval writes each answer twice (hook, then after the batch): the second write changes nothing.
        if key in self.memory and self.memory[key] == value:
            return
        self.memory[key] = value
        super().__setitem__(key, value)
        self.written += 1
        self.uncommitted += 1
        if self.uncommitted >= self.commit_every:
            self.commit()

    def commit(self, blocking: bool = True) -> None:
        super().commit(blocking)
        self.uncommitted = 0
