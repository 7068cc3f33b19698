"""Cleanup: asking vendors to remove registered canaries from case workers' view once judged.

A registered canary with a verdict is removed through the vendor's read-back API (``DELETE``). A
refusal is retried with a back-off (the read-back period, doubling to an hour) for at most
:data:`MAX_ATTEMPTS` tries; then Kanari gives up, the canary closes with a counted cleanup failure
(``kanari_cleanup_failures_total``, and the vendor's answer in its evidence) instead of staying open for
ever: a vendor answering 403 or 405 must not grow the open set, the ledger and the load without bound.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

from probe.checks.readback import ReadbackClient
from probe.engine.due import DueQueue
from probe.engine.results import CheckFailed, CleanedUp, CleanupAbandoned, Result
from probe.engine.tasks import Tasks
from probe.errors import UpstreamError
from probe.hops import Hop
from probe.lifecycle.record import CanaryRecord, State

# Six tries over about two hours (at a 60 s read-back period: 1, 2, 4, 8, 16 and 32 minutes apart) see
# a vendor through a deployment or a short outage; a vendor that refuses for longer refuses on purpose.
MAX_ATTEMPTS = 6
MAX_BACKOFF = 3600.0


class Cleanup:
    """Schedules and starts the removals that are due."""

    def __init__(
        self, tasks: Tasks, clients: Mapping[str, ReadbackClient], interval: float, *, enabled: bool
    ) -> None:
        self._tasks = tasks
        self._clients = clients
        self._interval = interval
        self._enabled = enabled
        self._due = DueQueue[str]()
        self._records: dict[str, CanaryRecord] = {}
        self._attempts: dict[str, int] = {}

    def pending(self, record: CanaryRecord) -> bool:
        """Whether ``record`` still has to be removed at its vendor."""
        return (
            self._enabled
            and record.state is not State.CLOSED
            and Hop.REGISTERED in record.hops
            and record.cleaned_at is None
            and record.cleanup_failed_at is None
            and record.vendor in self._clients
        )

    def start_due(self, changed: Iterable[CanaryRecord], now: float) -> int:
        """Schedule the ``changed`` records that now need removing, then start every removal that is
        due; returns how many started."""
        for record in changed:
            if record.verdict is not None and self.pending(record):
                self._records[record.id] = record
                if record.id not in self._due and record.id not in self._attempts:
                    self._due.schedule(record.id, now)
            else:
                self.forget(record)
        started = 0
        for canary_id in self._due.pop_due(now):
            due = self._records.get(canary_id)
            if due is None or not self.pending(due):
                continue
            record = due
            if record.id in self._tasks.busy:
                self._due.schedule(record.id, now + self._interval)
                continue
            attempt = self._attempts.get(record.id, 0) + 1
            self._attempts[record.id] = attempt
            if attempt < MAX_ATTEMPTS:
                self._due.schedule(record.id, now + min(self._interval * 2 ** (attempt - 1), MAX_BACKOFF))
            self._tasks.start(self._removal(record, last=attempt >= MAX_ATTEMPTS), about=record.id)
            started += 1
        return started

    def forget(self, record: CanaryRecord) -> None:
        """Stop removing ``record`` (it was cleaned, given up on, or closed)."""
        self._due.cancel(record.id)
        self._records.pop(record.id, None)
        self._attempts.pop(record.id, None)

    def _removal(self, record: CanaryRecord, *, last: bool) -> Callable[[], Awaitable[Result]]:
        client = self._clients[record.vendor]

        async def remove() -> Result:
            try:
                await client.delete(record.municipality, record.id)
            except UpstreamError as error:
                if last:
                    return CleanupAbandoned(record, error)
                return CheckFailed(record.channel, "readback", error, record)
            return CleanedUp(record)

        return remove
