"""Read-back batches: asking each vendor which canaries its fagsystem registered.

One ``?since=`` call per (vendor, municipality) and read-back period covers every canary of that
municipality that is ready for it (its hop before ``registered`` is reached, or an unconfirmed send,
which only read-back can see); the call is brought forward when a canary's deadline falls before the
next period, so a verdict never waits for read-back. A group whose calls fail (the vendor's API down) is
asked after a doubling pause, still at every canary's deadline: a day-long outage costs a few calls an
hour, not one a period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from probe.checks.readback import ReadbackClient
from probe.engine.due import DueQueue
from probe.engine.results import CheckFailed, RegistrationsSeen, Result
from probe.engine.tasks import Tasks
from probe.engine.watch import Watch
from probe.errors import UpstreamError
from probe.hops import Hop
from probe.lifecycle.record import CanaryRecord, State
from probe.lifecycle.verdict import due_at, needed_hops

# Clock skew between Kanari and a vendor must not hide a registration: ask for a little more.
SINCE_MARGIN = 120.0

# A failing group waits one period, then two, four, ... at most an hour between calls (deadlines aside).
MAX_FAILING_PAUSE = 3600.0

Group = tuple[str, str]
"""(vendor, kommunenummer): what one read-back call covers."""


class ReadbackBatches:
    """Keeps each (vendor, municipality)'s canaries waiting for read-back, and starts the calls that are
    due: a tick looks at the canaries that changed and the groups that are due, nothing else."""

    def __init__(
        self, tasks: Tasks, clients: Mapping[str, ReadbackClient], watch: Watch, interval: float
    ) -> None:
        self._tasks = tasks
        self._clients = clients
        self._watch = watch
        self._interval = interval
        self._members: dict[Group, dict[str, CanaryRecord]] = {}
        self._due = DueQueue[Group]()
        self._busy: set[Group] = set()
        self._watched_looks: dict[Group, int] = {}
        self._failures: dict[Group, int] = {}

    def wants(self, record: CanaryRecord) -> bool:
        """Whether read-back should look for ``record`` now."""
        if record.state is State.CLOSED:
            return False
        if Hop.REGISTERED not in needed_hops(record) or Hop.REGISTERED in record.hops:
            return False
        if record.vendor not in self._clients or not self._watch.looking(record):
            return False
        if record.unconfirmed:
            return True
        hops = needed_hops(record)
        previous = hops[hops.index(Hop.REGISTERED) - 1]
        return previous in record.hops

    def start_due(self, changed: Iterable[CanaryRecord], now: float) -> int:
        """Move the ``changed`` records in or out of their groups, then start every read-back call that
        is due; returns how many started."""
        for record in changed:
            group = (record.vendor, record.municipality)
            members = self._members.get(group)
            if self.wants(record):
                if members is None:
                    members = self._members[group] = {}
                    self._due.schedule(group, now)  # a group that was idle is asked at once
                else:
                    judged = record.verdict is not None
                    self._bring_forward(group, None if judged else registered_due(record), now)
                members[record.id] = record
            elif members is not None:
                members.pop(record.id, None)
        started = 0
        for group in self._due.pop_due(now):
            members = self._members.get(group)
            if not members:
                self._members.pop(group, None)
                self._watched_looks.pop(group, None)
                self._failures.pop(group, None)
                continue
            if group in self._busy:
                self._due.schedule(group, now)  # asked again at the next tick
                continue
            ready = [record for record in members.values() if record.id not in self._tasks.busy]
            if not ready:
                self._due.schedule(group, now)
                continue
            self._due.schedule(group, self._next_look(group, members.values(), now))
            self._start(group, ready, now)
            started += 1
        return started

    def _next_look(self, group: Group, members: Iterable[CanaryRecord], now: float) -> float:
        """One read-back period on, sooner if a canary's deadline falls before that; for a group whose
        canaries are all judged and only watched, a backing-off pace."""
        waiting = [record for record in members if record.verdict is None]
        if not waiting:
            looks = self._watched_looks.get(group, 0)
            self._watched_looks[group] = looks + 1
            return now + self._watch.pace(self._interval, looks)
        self._watched_looks.pop(group, None)
        upcoming = [due for due in map(registered_due, waiting) if due > now]
        failures = self._failures.get(group, 0)
        pause = min(self._interval * (1 << min(failures, 32)), max(self._interval, MAX_FAILING_PAUSE))
        return min([now + pause, *upcoming])

    def _bring_forward(self, group: Group, at: float | None, now: float) -> None:
        """Ask ``group`` by ``at`` if it is due later (a joining canary's deadline during a failing
        group's pause; the usual period once it answers again)."""
        due = self._due.when(group)
        if at is not None and due is not None and at < due:
            self._due.schedule(group, max(now, at))

    def _start(self, group: Group, members: list[CanaryRecord], now: float) -> None:
        client = self._clients[group[0]]
        since = min(record.created_at for record in members) - SINCE_MARGIN
        self._busy.add(group)

        async def ask() -> Result:
            try:
                registrations = await client.since(group[1], since)
            except UpstreamError as error:
                self._failures[group] = self._failures.get(group, 0) + 1
                return CheckFailed(members[0].channel, "readback", error)
            if self._failures.pop(group, None):
                self._bring_forward(group, now + self._interval, now)  # answering again: the usual pace
            return RegistrationsSeen(group[0], group[1], tuple(members), tuple(registrations), now)

        self._tasks.start(ask, done=lambda: self._busy.discard(group))


def registered_due(record: CanaryRecord) -> float:
    """When ``record`` must be registered by: read-back is asked then at the latest."""
    return due_at(record, Hop.REGISTERED)
