"""Status checks: asking each canary's channel how far it got.

A canary is checked every poll period only until its channel's own hops are all seen (read-back sees the
rest), with one check landed exactly on its deadline so a verdict never waits a whole poll period, and
at the watch's slower pace once judged. A send whose answer was lost is looked up instead, where the
channel can find it (Altinn, by ``sendersReference``); an unconfirmed portal send is for read-back alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

from probe.channels.base import ChannelAdapter
from probe.config.routes import Route
from probe.engine.results import CheckFailed, LookupDone, Result, StatusSeen
from probe.engine.tasks import Tasks
from probe.engine.watch import Watch
from probe.errors import UpstreamError
from probe.hops import Channel, Hop
from probe.lifecycle.record import CanaryRecord, State
from probe.lifecycle.verdict import needed_hops

# A route that left the configuration while its canary was open is polled at a common pace.
DEFAULT_POLL_INTERVAL = 15.0


class StatusChecks:
    """Starts the status checks and lookups that are due."""

    def __init__(
        self,
        tasks: Tasks,
        adapters: Mapping[Channel, ChannelAdapter],
        routes: Mapping[tuple[Channel, str], Route],
        watch: Watch,
    ) -> None:
        self._tasks = tasks
        self._adapters = adapters
        self._routes = routes
        self._watch = watch
        self._next: dict[str, float] = {}

    def start_due(self, records: Iterable[CanaryRecord], now: float) -> int:
        """Start every check that is due; returns how many started."""
        started = 0
        for record in records:
            if record.state is State.CLOSED or record.id in self._tasks.busy:
                continue
            if self._next.get(record.id, 0.0) > now:
                continue
            work = self._work(record, now)
            if work is not None:
                self._next[record.id] = self._following(record, now)
                self._tasks.start(work, about=record.id)
                started += 1
        return started

    def forget(self, record: CanaryRecord) -> None:
        """Drop ``record``'s next check time (it was judged, or closed)."""
        self._next.pop(record.id, None)

    def _following(self, record: CanaryRecord, now: float) -> float:
        route = self._routes.get(record.route_key)
        interval = route.poll_interval if route else DEFAULT_POLL_INTERVAL
        if record.verdict is not None:
            return now + self._watch.pace(interval)
        if now < record.deadline_at:
            # Land one check exactly on the deadline: "not reached when it had to be" is decided then.
            return min(now + interval, record.deadline_at)
        return now + interval

    def _work(self, record: CanaryRecord, now: float) -> Callable[[], Awaitable[Result]] | None:
        route = self._routes.get(record.route_key)
        adapter = self._adapters.get(record.channel)
        if route is None or adapter is None or not self._watch.looking(record):
            return None
        if record.upstream_id is None:
            if record.unconfirmed or record.state is State.INTENT:
                return None
            return lambda: _lookup(adapter, route, record)
        status_hops = [hop for hop in needed_hops(record) if hop is not Hop.REGISTERED]
        if all(hop in record.hops for hop in status_hops):
            return None
        upstream_id = record.upstream_id
        return lambda: _status(adapter, route, record, upstream_id, now)


async def _status(
    adapter: ChannelAdapter, route: Route, record: CanaryRecord, upstream_id: str, asked_at: float
) -> Result:
    try:
        observation = await adapter.check(route, upstream_id, record.api_version)
    except UpstreamError as error:
        return CheckFailed(record.channel, record.channel.value, error, record)
    return StatusSeen(record, observation, asked_at)


async def _lookup(adapter: ChannelAdapter, route: Route, record: CanaryRecord) -> Result:
    try:
        found = await adapter.find(route, record.id)
    except UpstreamError as error:
        return CheckFailed(record.channel, record.channel.value, error, record)
    return LookupDone(record, found)
