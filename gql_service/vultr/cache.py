"""A per-process TTL cache that runs at most one load per key at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedCache(Generic[K, V]):
    """Values fresh for ``ttl`` seconds; concurrent misses share one load.

    A load runs as its own task, so a caller that gives up (its query was
    cancelled) does not cancel the load the other callers are waiting on. A
    failed load caches nothing: the next caller tries again.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[K, tuple[float, V]] = {}
        self._loads: dict[K, asyncio.Task[V]] = {}
        # Bumped by invalidate(): a load started before it stores nothing.
        self._generation = 0

    async def get(self, key: K, ttl: float, load: Callable[[], Awaitable[V]]) -> V:
        cached = self._values.get(key)
        if cached is not None and self._clock() - cached[0] < ttl:
            return cached[1]
        task = self._loads.get(key)
        if task is None:
            task = asyncio.create_task(self._load(key, load, self._generation))
            task.add_done_callback(_retrieve_exception)
            self._loads[key] = task
        return await asyncio.shield(task)

    def loaded_at(self, key: K) -> float | None:
        cached = self._values.get(key)
        return cached[0] if cached is not None else None

    def invalidate(self, key: K | None = None) -> None:
        """Forget ``key`` (or everything); loads already running store nothing."""
        self._generation += 1
        if key is None:
            self._values.clear()
            self._loads.clear()
        else:
            self._values.pop(key, None)
            self._loads.pop(key, None)

    async def _load(
        self, key: K, load: Callable[[], Awaitable[V]], generation: int
    ) -> V:
        try:
            value = await load()
        finally:
            if self._loads.get(key) is asyncio.current_task():
                del self._loads[key]
        if generation == self._generation:
            self._values[key] = (self._clock(), value)
        return value


def _retrieve_exception(task: asyncio.Task[object]) -> None:
    # Every waiter may have been cancelled; read the error so asyncio does
    # not log "exception was never retrieved" for it.
    if not task.cancelled():
        task.exception()
