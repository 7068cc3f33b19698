"""Cleanup: asking vendors to remove registered canaries from case workers' view once judged.

A registered canary with a verdict is removed through the vendor's read-back API (``DELETE``), retried
every read-back period until it succeeds; the canary stays open until then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

from probe.checks.readback import ReadbackClient
from probe.engine.results import CheckFailed, CleanedUp, Result
from probe.engine.tasks import Tasks
from probe.errors import UpstreamError
from probe.hops import Hop
from probe.lifecycle.record import CanaryRecord


class Cleanup:
    """Starts the removals that are due."""

    def __init__(
        self, tasks: Tasks, clients: Mapping[str, ReadbackClient], interval: float, *, enabled: bool
    ) -> None:
        self._tasks = tasks
        self._clients = clients
        self._interval = interval
        self._enabled = enabled
        self._next: dict[str, float] = {}

    def pending(self, record: CanaryRecord) -> bool:
        """Whether ``record`` still has to be removed at its vendor."""
        return (
            self._enabled
            and Hop.REGISTERED in record.hops
            and record.cleaned_at is None
            and record.vendor in self._clients
        )

    def start_due(self, records: Iterable[CanaryRecord], now: float) -> int:
        """Start every removal that is due; returns how many started."""
        started = 0
        for record in records:
            if record.verdict is None or not self.pending(record) or record.id in self._tasks.busy:
                continue
            if self._next.get(record.id, 0.0) > now:
                continue
            self._next[record.id] = now + self._interval
            self._tasks.start(self._removal(record), about=record.id)
            started += 1
        return started

    def forget(self, record: CanaryRecord) -> None:
        """Drop ``record``'s next attempt (it was cleaned, or closed)."""
        self._next.pop(record.id, None)

    def _removal(self, record: CanaryRecord) -> Callable[[], Awaitable[Result]]:
        client = self._clients[record.vendor]

        async def remove() -> Result:
            try:
                await client.delete(record.municipality, record.id)
            except UpstreamError as error:
                return CheckFailed(record.channel, "readback", error, record)
            return CleanedUp(record)

        return remove
