"""Read-back batches: asking each vendor which canaries its fagsystem registered.

One ``?since=`` call per (vendor, municipality) and read-back period covers every canary of that
municipality that is ready for it (its hop before ``registered`` is reached, or an unconfirmed send,
which only read-back can see); the call is brought forward when a canary's deadline falls before the
next period, so a verdict never waits for read-back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from probe.checks.readback import ReadbackClient
from probe.engine.results import CheckFailed, RegistrationsSeen, Result
from probe.engine.tasks import Tasks
from probe.engine.watch import Watch
from probe.errors import UpstreamError
from probe.hops import Hop
from probe.lifecycle.record import CanaryRecord, State
from probe.lifecycle.verdict import needed_hops

# Clock skew between Kanari and a vendor must not hide a registration: ask for a little more.
SINCE_MARGIN = 120.0

Group = tuple[str, str]
"""(vendor, kommunenummer): what one read-back call covers."""


class ReadbackBatches:
    """Starts the read-back calls that are due."""

    def __init__(
        self, tasks: Tasks, clients: Mapping[str, ReadbackClient], watch: Watch, interval: float
    ) -> None:
        self._tasks = tasks
        self._clients = clients
        self._watch = watch
        self._interval = interval
        self._next: dict[Group, float] = {}
        self._busy: set[Group] = set()

    def wants(self, record: CanaryRecord) -> bool:
        """Whether read-back should look for ``record`` now."""
        if Hop.REGISTERED not in needed_hops(record) or Hop.REGISTERED in record.hops:
            return False
        if record.vendor not in self._clients or not self._watch.looking(record):
            return False
        if record.unconfirmed:
            return True
        hops = needed_hops(record)
        previous = hops[hops.index(Hop.REGISTERED) - 1]
        return previous in record.hops

    def start_due(self, records: Iterable[CanaryRecord], now: float) -> int:
        """Start every read-back call that is due; returns how many started."""
        groups: dict[Group, list[CanaryRecord]] = {}
        for record in records:
            if record.state is State.CLOSED or record.id in self._tasks.busy:
                continue
            if self.wants(record):
                groups.setdefault((record.vendor, record.municipality), []).append(record)
        started = 0
        for group, members in groups.items():
            if self._next.get(group, 0.0) > now or group in self._busy:
                continue
            # Next look: one read-back period on, or sooner if a canary's deadline falls before that.
            upcoming = [record.deadline_at for record in members if record.deadline_at > now]
            self._next[group] = min([now + self._interval, *upcoming])
            self._start(group, members, now)
            started += 1
        return started

    def _start(self, group: Group, members: list[CanaryRecord], now: float) -> None:
        client = self._clients[group[0]]
        since = min(record.created_at for record in members) - SINCE_MARGIN
        self._busy.add(group)

        async def ask() -> Result:
            try:
                registrations = await client.since(group[1], since)
            except UpstreamError as error:
                return CheckFailed(members[0].channel, "readback", error)
            return RegistrationsSeen(group[0], group[1], tuple(members), tuple(registrations), now)

        self._tasks.start(ask, done=lambda: self._busy.discard(group))
