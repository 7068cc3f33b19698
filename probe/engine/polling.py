"""Following canaries: status checks, read-back, verdicts, late arrivals and cleanup.

Each tick applies the results that arrived since the previous one (one transaction), decides every
verdict that is due, and starts the checks that are due now; checks run as background tasks so a slow
upstream never stalls the tick. Upstream cost is kept near the protocol's minimum:

- a status check per canary per poll, only until the channel's own hops are all seen;
- one read-back ``?since=`` call per (vendor, municipality) per poll, covering every canary of that
  municipality that is ready for it (its hop before ``registered`` is reached);
- a check exactly at each deadline, so a verdict never waits a whole poll period;
- canaries watched for a late arrival are checked at a slower pace.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping

from probe import diagnostics
from probe.canary.marker import MarkerVerifier
from probe.channels.base import ChannelAdapter, Observation
from probe.config.routes import Route
from probe.engine.book import Book
from probe.engine.sending import apply_decision
from probe.engine.verdict import Decision, decide, delivered_at, failed, needed_hops
from probe.errors import MarkerError, UpstreamError
from probe.hops import Channel, Hop, Verdict, hops_of, owner_of
from probe.ledger import CanaryRecord
from probe.metrics import Metrics
from probe.readback import ReadbackClient, Registration

log = logging.getLogger("kanari.poll")

# Clock skew between Kanari and a vendor must not hide a registration: ask for a little more.
SINCE_MARGIN = 120.0
# Upstream clocks run a little apart from Kanari's: a hop stamped up to this much before the send is the
# send's own instant; earlier than that, the upstream's time cannot be read right (a wrong time zone, a
# clock hours off) and is counted as a reading error instead of becoming a near-zero latency.
CLOCK_SKEW_TOLERANCE = 5.0
# Canaries already judged lost or unknown are only watched for a late arrival; four polls' pace (at
# least a minute) is plenty for that and keeps the watch cheap during an outage.
WATCH_FACTOR = 4
MIN_WATCH_INTERVAL = 60.0


@dataclasses.dataclass(frozen=True)
class PollSettings:
    """Timing that is not per route."""

    readback_interval: float
    blind_grace: float
    late_window: float
    cleanup: bool


Result = Callable[[float], None]


class Poller:
    """Follows every open canary to its verdict."""

    def __init__(
        self,
        *,
        book: Book,
        adapters: Mapping[Channel, ChannelAdapter],
        readback: Mapping[str, ReadbackClient],
        routes: Mapping[tuple[Channel, str], Route],
        verifier: MarkerVerifier,
        metrics: Metrics,
        settings: PollSettings,
    ) -> None:
        self._book = book
        self._adapters = adapters
        self._readback = readback
        self._routes = routes
        self._verifier = verifier
        self._metrics = metrics
        self._settings = settings
        self._next_check: dict[str, float] = {}
        self._next_readback: dict[tuple[str, str], float] = {}
        self._busy: set[str] = set()
        self._readback_busy: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._results: list[Result] = []

    # ---- the tick -------------------------------------------------------------------------------

    def apply(self, now: float) -> None:
        """Apply arrived results, decide due verdicts, move watched and cleaned canaries along."""
        results, self._results = self._results, []
        for result in results:
            result(now)
        for record in list(self._book.records.values()):
            self._advance(record, now)

    def start_due(self, now: float) -> int:
        """Start every check that is due; returns how many started."""
        started = 0
        groups: dict[tuple[str, str], list[CanaryRecord]] = {}
        for record in self._book.records.values():
            if record.state == "closed" or record.id in self._busy:
                continue
            if self._wants_readback(record, now):
                groups.setdefault((record.vendor, record.municipality), []).append(record)
            if self._next_check.get(record.id, 0.0) > now:
                continue
            check = self._check_for(record, now)
            if check is not None:
                self._next_check[record.id] = self._following(record, now)
                self._start(record.id, check)
                started += 1
        for key, records in groups.items():
            if self._next_readback.get(key, 0.0) > now or key in self._readback_busy:
                continue
            # Next look: one read-back period on, or sooner if a canary's deadline falls before that.
            upcoming = [record.deadline_at for record in records if record.deadline_at > now]
            self._next_readback[key] = min([now + self._settings.readback_interval, *upcoming])
            self._start_readback(key, records, now)
            started += 1
        return started

    async def settle(self) -> None:
        """Wait for every check under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @property
    def busy(self) -> int:
        """Checks under way."""
        return len(self._tasks)

    # ---- what to check --------------------------------------------------------------------------

    def _following(self, record: CanaryRecord, now: float) -> float:
        route = self._routes.get(record.route_key)
        interval = route.poll_interval if route else 15.0
        if record.verdict is not None:
            return now + max(interval * WATCH_FACTOR, MIN_WATCH_INTERVAL)
        if now < record.deadline_at:
            # Land one check exactly on the deadline: "not reached when it had to be" is decided then.
            return min(now + interval, record.deadline_at)
        return now + interval

    def _check_for(self, record: CanaryRecord, now: float) -> Callable[[], Awaitable[Result]] | None:
        route = self._routes.get(record.route_key)
        adapter = self._adapters.get(record.channel)
        if route is None or adapter is None or not self._watching(record):
            return None
        if record.upstream_id is None:
            if record.unconfirmed or record.state == "intent":
                return None
            return lambda: self._lookup(adapter, route, record)
        status_hops = [hop for hop in needed_hops(record) if hop is not Hop.REGISTERED]
        if all(hop in record.hops for hop in status_hops):
            return None
        upstream_id = record.upstream_id
        return lambda: self._status(adapter, route, record, upstream_id, now)

    def _watching(self, record: CanaryRecord) -> bool:
        if record.verdict is None:
            return True
        if record.verdict not in (Verdict.LOST, Verdict.UNKNOWN) or record.late_at is not None:
            return False
        return record.verdict_at is not None and delivered_at(record) is None

    def _wants_readback(self, record: CanaryRecord, now: float) -> bool:
        if Hop.REGISTERED not in needed_hops(record) or Hop.REGISTERED in record.hops:
            return False
        if record.vendor not in self._readback or not self._watching(record):
            return False
        if record.unconfirmed:
            return True
        hops = needed_hops(record)
        previous = hops[hops.index(Hop.REGISTERED) - 1]
        return previous in record.hops

    # ---- running checks -------------------------------------------------------------------------

    def _start(self, key: str, check: Callable[[], Awaitable[Result]]) -> None:
        self._busy.add(key)

        async def run() -> None:
            try:
                result = await check()
            except Exception:  # a bug in one check must not stop the others
                log.exception("check crashed: canary=%s", key)
                result = _nothing
            finally:
                self._busy.discard(key)
            self._results.append(result)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _status(
        self, adapter: ChannelAdapter, route: Route, record: CanaryRecord, upstream_id: str, asked_at: float
    ) -> Result:
        try:
            observation = await adapter.check(route, upstream_id, record.api_version)
        except UpstreamError as error:
            return self._check_failed(record.channel, record.channel.value, error, record)
        return lambda now: self._observed(record, observation, now, asked_at)

    async def _lookup(self, adapter: ChannelAdapter, route: Route, record: CanaryRecord) -> Result:
        try:
            found = await adapter.find(route, record.id)
        except UpstreamError as error:
            return self._check_failed(record.channel, record.channel.value, error, record)

        def apply(now: float) -> None:
            with self._book.changing(record):
                if found is not None:
                    record.upstream_id = found
                    record.hops.setdefault(Hop.ACCEPTED, record.created_at)
                elif record.verdict is None:
                    # Altinn has no such correspondence: the send never took. After a failed send that
                    # is the upstream's failure; after a crash before any answer, nothing was tested.
                    decision = (
                        Decision(Verdict.FAILED, Hop.ACCEPTED, owner_of(record.channel, Hop.ACCEPTED))
                        if record.failure_reason is not None
                        else Decision(Verdict.UNKNOWN)
                    )
                    apply_decision(record, decision, now)

        return apply

    def _start_readback(self, key: tuple[str, str], records: list[CanaryRecord], now: float) -> None:
        client = self._readback[key[0]]
        since = min(record.created_at for record in records) - SINCE_MARGIN
        self._readback_busy.add(key)

        async def check() -> Result:
            try:
                registrations = await client.since(key[1], since)
            except UpstreamError as error:
                return self._check_failed(records[0].channel, "readback", error)
            finally:
                self._readback_busy.discard(key)
            return lambda applied_at: self._registered(key, records, registrations, applied_at, now)

        self._start(f"readback:{key[0]}:{key[1]}", check)

    def _check_failed(
        self, channel: Channel, target: str, error: UpstreamError, record: CanaryRecord | None = None
    ) -> Result:
        def apply(now: float) -> None:
            self._metrics.check_failures.labels(channel.value, target, error.reason.value).inc()
            if record is not None and error.detail and record.id in self._book.records:
                with self._book.changing(record):
                    record.diagnostics = diagnostics.join([record.diagnostics, error.detail])

        log.info("check failed: target=%s channel=%s reason=%s", target, channel.value, error.reason.value)
        return apply

    # ---- applying results -----------------------------------------------------------------------

    def _observed(self, record: CanaryRecord, observation: Observation, now: float, asked_at: float) -> None:
        with self._book.changing(record):
            record.status_ok_at = now
            record.last_status = observation.last_status or record.last_status
            if observation.detail:
                record.diagnostics = diagnostics.join([record.diagnostics, observation.detail])
            self._reach(record, observation.reached, now, asked_at)
            if observation.failed_status is not None and record.verdict is None:
                apply_decision(record, failed(record), now)

    def _registered(
        self,
        key: tuple[str, str],
        records: list[CanaryRecord],
        registrations: list[Registration],
        now: float,
        asked_at: float,
    ) -> None:
        by_id = {record.id: record for record in self._book.records.values() if record.municipality == key[1]}
        seen: dict[str, int] = {}
        for registration in registrations:
            record = by_id.get(registration.canary_id)
            if record is None:
                continue  # another probe instance's canary, or one already closed
            problem = self._marker_problem(record, registration, now)
            if problem is not None:
                self._metrics.marker_rejections.labels(record.channel.value, record.vendor).inc()
                log.warning("read-back marker rejected: vendor=%s canary=%s: %s", key[0], record.id, problem)
                continue
            seen[record.id] = seen.get(record.id, 0) + 1
            with self._book.changing(record):
                self._reach(record, {Hop.REGISTERED: registration.registered_at}, now, asked_at)
                if seen[record.id] > 1:
                    record.duplicate = True
        for record in records:
            if record.id in self._book.records:
                with self._book.changing(record):
                    record.readback_ok_at = now

    def _marker_problem(self, record: CanaryRecord, registration: Registration, now: float) -> str | None:
        """Why the registration's marker does not prove it is this canary, or ``None`` if it does."""
        try:
            payload = self._verifier.verify(registration.marker, now)
        except MarkerError as error:
            return str(error)
        named = (payload.canary_id, payload.channel, payload.kommunenummer)
        if named != (record.id, record.channel.value, record.municipality):
            return "the marker names another canary"
        return None

    def _reach(self, record: CanaryRecord, reached: Mapping[Hop, float], now: float, asked_at: float) -> None:
        """Record newly reached hops. A time before the send (beyond clock skew) cannot be right: it is
        counted as a reading error and the hop takes the time the check was asked (it was reached by
        then, which is never after a deadline the check was landed on), or the time of a later hop if
        that came sooner, so the hops keep their order."""
        order = hops_of(record.channel)
        readable = {
            hop: when for hop, when in reached.items() if when >= record.created_at - CLOCK_SKEW_TOLERANCE
        }
        for hop, when in reached.items():
            if hop in record.hops or hop not in order:
                continue
            stamped = when
            if hop not in readable:
                self._book.after_commit(
                    functools.partial(self._metrics.hop_time_reading_error, record.channel, hop)
                )
                later = order[order.index(hop) + 1 :]
                stamped = min([asked_at, *(t for h, t in {**readable, **record.hops}.items() if h in later)])
            # Upstream clocks are not ours: keep the time between sending and now.
            at = min(max(stamped, record.created_at), now)
            record.hops[hop] = at
            self._book.after_commit(functools.partial(self._metrics.hop_reached, record, hop, at))

    def _advance(self, record: CanaryRecord, now: float) -> None:
        if record.state == "intent":
            return
        if record.verdict is None:
            decision = decide(record, now, self._settings.blind_grace)
            if decision is not None:
                with self._book.changing(record):
                    apply_decision(record, decision, now)
                    if decision.verdict is Verdict.DELIVERED:
                        arrived = delivered_at(record)
                        if arrived is not None:
                            self._book.after_commit(
                                functools.partial(self._metrics.delivered, record, arrived)
                            )
                self._next_check.pop(record.id, None)
            return
        if record.verdict in (Verdict.LOST, Verdict.UNKNOWN) and record.late_at is None:
            arrived = delivered_at(record)
            if arrived is not None and arrived > record.deadline_at:
                with self._book.changing(record):
                    record.late_at = now
        if self._finished(record, now):
            with self._book.changing(record):
                record.state = "closed"
            self._next_check.pop(record.id, None)

    def _finished(self, record: CanaryRecord, now: float) -> bool:
        if self._cleanup_pending(record):
            return False
        if record.verdict in (Verdict.LOST, Verdict.UNKNOWN) and record.late_at is None:
            watched_until = (record.verdict_at or now) + self._settings.late_window
            return now >= watched_until or not self._watching(record)
        return True

    def _cleanup_pending(self, record: CanaryRecord) -> bool:
        return (
            self._settings.cleanup
            and Hop.REGISTERED in record.hops
            and record.cleaned_at is None
            and record.vendor in self._readback
        )

    # ---- cleanup --------------------------------------------------------------------------------

    def start_cleanup(self, now: float) -> int:
        """Ask vendors to remove registered canaries that have a verdict; returns how many started."""
        started = 0
        for record in list(self._book.records.values()):
            if record.verdict is None or not self._cleanup_pending(record) or record.id in self._busy:
                continue
            if self._next_check.get(f"cleanup:{record.id}", 0.0) > now:
                continue
            self._next_check[f"cleanup:{record.id}"] = now + self._settings.readback_interval
            client = self._readback[record.vendor]
            self._start(record.id, functools.partial(self._cleanup, client, record))
            started += 1
        return started

    async def _cleanup(self, client: ReadbackClient, record: CanaryRecord) -> Result:
        try:
            await client.delete(record.municipality, record.id)
        except UpstreamError as error:
            return self._check_failed(record.channel, "readback", error, record)

        def apply(now: float) -> None:
            with self._book.changing(record):
                record.cleaned_at = now
            self._next_check.pop(f"cleanup:{record.id}", None)

        return apply


def _nothing(now: float) -> None:
    return None
