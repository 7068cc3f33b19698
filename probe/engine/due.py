"""Keys due at instants: what a tick pops is what is due, so its cost follows what is due, not how many
canaries are open.

A binary heap with lazy deletion: rescheduling or cancelling a key leaves its old entry in the heap,
skipped when it surfaces (its instant no longer matches), and the heap is rebuilt when stale entries
outnumber live ones, so memory stays proportional to the keys scheduled.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# Rebuild once stale entries are this many times the live ones (and at least this many in all): a
# rebuild is linear, so doing it rarely keeps each operation logarithmic on average.
_COMPACT_FACTOR = 2
_COMPACT_MINIMUM = 1024


class DueQueue(Generic[K]):
    """Each key at most once, at the instant it was last scheduled for."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._order = itertools.count()

    def schedule(self, key: K, at: float) -> None:
        """Make ``key`` due at ``at`` (replacing any earlier schedule of it)."""
        if self._due.get(key) == at:
            return
        self._due[key] = at
        heapq.heappush(self._heap, (at, next(self._order), key))
        if len(self._heap) > _COMPACT_MINIMUM and len(self._heap) > _COMPACT_FACTOR * (len(self._due) + 1):
            self._compact()

    def cancel(self, key: K) -> None:
        """``key`` is no longer due at all."""
        self._due.pop(key, None)

    def when(self, key: K) -> float | None:
        """When ``key`` is due, or ``None``."""
        return self._due.get(key)

    def pop_due(self, now: float) -> list[K]:
        """Every key due at or before ``now``, earliest first; they are no longer scheduled."""
        due: list[K] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, key = heapq.heappop(heap)
            if self._due.get(key) == at:
                del self._due[key]
                due.append(key)
        return due

    def earliest(self) -> float | None:
        """The earliest instant any key is due at, or ``None`` when none is scheduled."""
        heap = self._heap
        while heap and self._due.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._due

    def _compact(self) -> None:
        self._heap = [(at, next(self._order), key) for key, at in self._due.items()]
        heapq.heapify(self._heap)
