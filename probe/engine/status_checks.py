"""Status checks: asking each canary's channel how far it got, when that can tell something.

Upstream status histories carry the time of every hop, so asking later loses no precision; what matters
is asking when a hop can be there and when a verdict depends on it. A canary is asked:

- once its next hop is **expected**: the route's usual latency to its last status hop (learned from the
  canaries it delivered, cold-started on the route's ``normal_latency``, or one poll period for a route
  without one);
- if that did not show it, when the hop it waits for becomes **overdue** (past the route's usual latency
  to it, :meth:`probe.engine.deadlines.Deadlines.usual_at`), so the overdue warning rests on a check
  made then and not on an older one, and a healthy canary in the tail is seen as soon as it is there;
- then **halfway** to the deadline of the hop it waits for (a rejection or paper-post fallback is then
  seen well before the deadline);
- exactly **when that hop is due** (its learned or configured bound, :mod:`probe.lifecycle.bounds`), so
  "not reached when it had to be" is decided then; and after that every poll period while the checks
  fail (until the blind grace ends). Once the hop is there, the next hop's deadline is the one followed;
- once judged and watched for a late arrival, at a **backing-off** pace (doubling to a cap), within a
  per-channel budget, so a long outage cannot multiply the load on the national services.

A send whose answer was lost is looked up instead, where the channel can find it (Altinn, by
``sendersReference``); an unconfirmed portal send is for read-back alone. Work per tick follows what is due
(:class:`~probe.engine.due.DueQueue`): the engine hands over only the records that changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

from probe.channels.base import ChannelAdapter
from probe.config.routes import Route
from probe.engine.due import DueQueue
from probe.engine.results import CheckFailed, LookupDone, Result, StatusSeen
from probe.engine.tasks import Tasks
from probe.engine.watch import Watch
from probe.errors import UpstreamError
from probe.hops import Channel, Hop
from probe.lifecycle.record import CanaryRecord, State
from probe.lifecycle.verdict import judged_at, needed_hops

# A route that left the configuration while its canary was open is polled at a common pace.
DEFAULT_POLL_INTERVAL = 15.0
# The learned latency is a smoothed mean; asking at 1.5 times it finds most healthy canaries there at the
# first look while the slow tail is caught halfway to the deadline.
EXPECTED_MARGIN = 1.5
# Each delivered canary moves the smoothed latency a fifth of the way: a few canaries follow a route
# that got slower, one outlier does not.
LEARNING_WEIGHT = 0.2
# A check that is due while the same canary's previous one is still under way is tried again this soon.
BUSY_RETRY = 1.0


def status_hops(record: CanaryRecord) -> list[Hop]:
    """The hops a status check can show for ``record`` (read-back sees ``registered``)."""
    return [hop for hop in needed_hops(record) if hop is not Hop.REGISTERED]


class StatusChecks:
    """Schedules and starts the status checks and lookups that are due."""

    def __init__(
        self,
        tasks: Tasks,
        adapters: Mapping[Channel, ChannelAdapter],
        routes: Mapping[tuple[Channel, str], Route],
        watch: Watch,
        usual_at: Callable[[CanaryRecord, Hop], float | None] = lambda record, hop: None,
    ) -> None:
        """``usual_at`` says when a canary becomes overdue at a hop (``None`` while its route is cold)."""
        self._usual_at = usual_at
        self._tasks = tasks
        self._adapters = adapters
        self._routes = routes
        self._watch = watch
        self._due = DueQueue[str]()
        self._records: dict[str, CanaryRecord] = {}
        self._asked: dict[str, float] = {}
        self._watched: dict[str, int] = {}
        self._latency: dict[tuple[Channel, str], float] = {}

    def start_due(self, changed: Iterable[CanaryRecord], now: float) -> int:
        """Reschedule the ``changed`` records, then start every check that is due; how many started."""
        for record in changed:
            self.reconsider(record, now)
        started = 0
        for canary_id in self._due.pop_due(now):
            due = self._records.get(canary_id)
            if due is None:
                continue
            record = due
            if record.id in self._tasks.busy:
                self._due.schedule(record.id, now + BUSY_RETRY)
                continue
            work = self._work(record, now)
            if work is None:
                self.forget(record)
                continue
            if record.verdict is not None and not self._watch.may_look(record.channel, now):
                self._due.schedule(record.id, self._watch.next_slot(record.channel, now))
                continue
            self._asked[record.id] = now
            if record.verdict is not None:
                self._watched[record.id] = self._watched.get(record.id, 0) + 1
            self._due.schedule(record.id, self._following(record, now))
            self._tasks.start(work, about=record.id)
            started += 1
        return started

    def reconsider(self, record: CanaryRecord, now: float) -> None:
        """Work out when ``record`` is next asked (or that it need not be)."""
        self._learn(record)
        if self._work(record, now) is None:
            self.forget(record)
            return
        self._records[record.id] = record
        asked = self._asked.get(record.id)
        self._due.schedule(
            record.id, self._first_due(record) if asked is None else self._following(record, asked)
        )

    def forget(self, record: CanaryRecord) -> None:
        """Stop asking about ``record`` (it was judged and needs no watch, or closed)."""
        self._due.cancel(record.id)
        self._records.pop(record.id, None)
        self._asked.pop(record.id, None)
        self._watched.pop(record.id, None)

    def expected_latency(self, route: Route) -> float:
        """How long after sending the route's last status hop is usually there."""
        learned = self._latency.get(route.key)
        ceiling = route.normal_latency if route.normal_latency is not None else route.poll_interval
        if learned is None:
            return ceiling
        return max(route.poll_interval, min(learned * EXPECTED_MARGIN, max(ceiling, route.poll_interval)))

    def _learn(self, record: CanaryRecord) -> None:
        hops = status_hops(record)
        if record.id in self._asked and hops and all(hop in record.hops for hop in hops):
            latency = max(record.hops[hop] for hop in hops) - record.created_at
            if record.hops[hops[-1]] <= record.deadline_at:
                known = self._latency.get(record.route_key)
                self._latency[record.route_key] = (
                    latency if known is None else known + LEARNING_WEIGHT * (latency - known)
                )

    def _poll_interval(self, record: CanaryRecord) -> float:
        route = self._routes.get(record.route_key)
        return route.poll_interval if route else DEFAULT_POLL_INTERVAL

    def _first_due(self, record: CanaryRecord) -> float:
        if record.verdict is not None:
            return (record.verdict_at or record.created_at) + self._watch.pace(self._poll_interval(record), 0)
        if record.upstream_id is None:
            return record.created_at  # a lookup: at once
        route = self._routes.get(record.route_key)
        expected = self.expected_latency(route) if route else DEFAULT_POLL_INTERVAL
        return min(record.created_at + expected, judged_at(record))

    def _following(self, record: CanaryRecord, asked: float) -> float:
        """When to ask again after asking at ``asked``."""
        interval = self._poll_interval(record)
        if record.verdict is not None:
            return asked + self._watch.pace(interval, self._watched.get(record.id, 0))
        due = judged_at(record)
        if record.upstream_id is None or asked >= due:
            return asked + interval
        first = self._first_due(record)
        if asked < first:
            return first
        usual = self._overdue_at(record)
        if usual is not None and asked < usual < due:
            return usual
        start = first if usual is None or usual >= due else max(first, usual)
        halfway = start + (due - start) / 2
        if asked < halfway - interval:
            return halfway
        return due

    def _overdue_at(self, record: CanaryRecord) -> float | None:
        """When the status hop ``record`` waits for becomes overdue, if its route knows."""
        for hop in status_hops(record):
            if hop not in record.hops:
                return self._usual_at(record, hop)
        return None

    def _work(self, record: CanaryRecord, now: float) -> Callable[[], Awaitable[Result]] | None:
        route = self._routes.get(record.route_key)
        adapter = self._adapters.get(record.channel)
        if record.state is State.CLOSED or route is None or adapter is None:
            return None
        if not self._watch.looking(record):
            return None
        if record.upstream_id is None:
            if record.unconfirmed or record.state is State.INTENT or not adapter.can_find:
                return None
            return lambda: _lookup(adapter, route, record)
        if all(hop in record.hops for hop in status_hops(record)):
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
