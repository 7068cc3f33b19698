"""Applying what the network work found: the one place results change records.

Every :class:`~probe.engine.results.Result` becomes lifecycle transitions on its record inside
:meth:`OpenCanaries.changing` (so it is persisted and counted), and metric observations that run once the
change is committed. A result about a canary closed meanwhile is dropped; a check failure is counted
whatever became of its canary.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping

from probe.canary.marker import MarkerVerifier
from probe.channels.base import ChannelAdapter, Sent
from probe.checks.readback import Registration
from probe.engine.log_throttle import LogThrottle
from probe.engine.open_canaries import OpenCanaries
from probe.engine.results import (
    CheckFailed,
    CleanedUp,
    CleanupAbandoned,
    LookupDone,
    RegistrationsSeen,
    Result,
    SendAnswered,
    StatusSeen,
)
from probe.errors import MarkerError, UpstreamError
from probe.hops import Channel, Hop, hops_of
from probe.lifecycle import record as lifecycle
from probe.lifecycle import status_history
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.verdict import failed, not_found, send_refused
from probe.metrics.metric_set import Metrics

log = logging.getLogger("kanari.poll")
send_log = logging.getLogger("kanari.send")

# Upstream clocks run a little apart from Kanari's: a hop stamped up to this much before the send is the
# send's own instant; earlier than that, the upstream's time cannot be read right (a wrong time zone, a
# clock hours off) and is counted as a reading error instead of becoming a near-zero latency.
CLOCK_SKEW_TOLERANCE = 5.0


class Applier:
    """Applies results to the open canaries."""

    def __init__(
        self,
        canaries: OpenCanaries,
        metrics: Metrics,
        verifier: MarkerVerifier,
        adapters: Mapping[Channel, ChannelAdapter],
    ) -> None:
        self._canaries = canaries
        self._metrics = metrics
        self._verifier = verifier
        self._adapters = adapters
        # Registrations whose marker was rejected, per open canary: read-back keeps returning the same
        # bad registration on every poll, and it is one bad registration, counted and logged once.
        self._rejected: dict[str, set[str]] = {}
        # A failing upstream fails every request to it: its first failure is logged, then one line a
        # minute with how many more there were (by channel, target and reason), on the time ``apply``
        # is given. Each canary that fails still gets its own verdict line (probe.lifecycle.record).
        self._now = 0.0
        self._send_failures = LogThrottle(send_log, lambda: self._now)
        self._check_failures = LogThrottle(log, lambda: self._now)

    def apply(self, results: Iterable[Result], now: float) -> None:
        """Apply ``results`` in order, at ``now``."""
        self._now = now
        self._send_failures.flush()
        self._check_failures.flush()
        for result in results:
            if isinstance(result, CheckFailed):
                self._check_failed(result)
            elif isinstance(result, CleanupAbandoned):
                self._check_failed(
                    CheckFailed(result.record.channel, "readback", result.error, result.record)
                )
                if result.record in self._canaries:
                    with self._canaries.changing(result.record):
                        lifecycle.abandon_cleanup(result.record, now)
                    log.warning(
                        "cleanup abandoned: vendor=%s canary=%s kept refusing the removal (%s)",
                        result.record.vendor, result.record.id, result.error.reason.value,
                    )  # fmt: skip
            elif isinstance(result, RegistrationsSeen):
                self._registered(result, now)
            elif result.record in self._canaries:
                with self._canaries.changing(result.record):
                    self._apply(result, now)

    def _apply(self, result: SendAnswered | StatusSeen | LookupDone | CleanedUp, now: float) -> None:
        record = result.record
        if isinstance(result, SendAnswered):
            self._answered(record, result.answer, now)
        elif isinstance(result, StatusSeen):
            self._observed(record, result, now)
        elif isinstance(result, LookupDone):
            if result.upstream_id is not None:
                lifecycle.found(record, result.upstream_id)
            elif record.verdict is None:
                lifecycle.resolve(record, not_found(record), now)
        else:
            lifecycle.clean(record, now)

    def _answered(self, record: CanaryRecord, answer: Sent | UpstreamError, now: float) -> None:
        if isinstance(answer, Sent):
            accepted_at = lifecycle.accept(
                record,
                answer.upstream_id,
                min(max(answer.accepted_at, record.created_at), now),
                answer.api_version,
            )
            self._canaries.after_commit(
                functools.partial(self._metrics.hop_reached, record, Hop.ACCEPTED, accepted_at)
            )
            self._canaries.after_commit(
                functools.partial(self._metrics.set_route_version, record.route_key, answer.api_version)
            )
            return
        lifecycle.refused(record, answer.reason.value, answer.detail)
        self._send_failures.log(
            logging.WARNING,
            f"{record.channel.value}:{answer.reason.value}",
            f"send failed: route={record.channel.value}/{record.municipality} canary={record.id} "
            f"reason={answer.reason.value} maybe_processed={answer.maybe_processed} "
            f"detail={answer.detail or '-'}",
            extra={**_failure_fields(answer, record), "target": "send"},
        )
        if answer.maybe_processed:
            # Altinn can be asked by sendersReference; the portal cannot, so read-back must show it.
            adapter = self._adapters.get(record.channel)
            lifecycle.unanswered(record, findable=adapter is not None and adapter.can_find)
            return
        lifecycle.resolve(record, send_refused(record.channel, answer.reason), now)

    def _observed(self, record: CanaryRecord, seen: StatusSeen, now: float) -> None:
        observation = seen.observation
        # A look counts from when it was asked, not from when its answer was applied: a check asked
        # before a hop was due and applied after must not count as "looked after it was due".
        lifecycle.looked(record, "status", seen.asked_at)
        status_history.seen(record, observation.events)
        lifecycle.status_seen(record, observation.last_status)
        lifecycle.note(record, observation.detail)
        self._reach(record, observation.reached, now, seen.asked_at)
        if observation.failed_status is not None and record.verdict is None:
            lifecycle.resolve(record, failed(record), now)

    def _registered(self, seen: RegistrationsSeen, now: float) -> None:
        # Matched by id in the open set: the cost follows the answer, not how many canaries are open.
        open_records = self._canaries.records
        counted: dict[str, int] = {}
        for registration in seen.registrations:
            record = open_records.get(registration.canary_id)
            if record is None or record.municipality != seen.municipality:
                continue  # another probe instance's canary, or one already closed
            rejected = self._rejected.get(record.id, set())
            if registration.marker in rejected:
                continue
            problem = self._marker_problem(record, registration, now)
            if problem is not None:
                self._rejected.setdefault(record.id, set()).add(registration.marker)
                self._metrics.marker_rejected(record.channel, record.vendor)
                log.warning(
                    "read-back marker rejected: vendor=%s canary=%s: %s", seen.vendor, record.id, problem
                )
                continue
            counted[record.id] = counted.get(record.id, 0) + 1
            with self._canaries.changing(record):
                self._reach(record, {Hop.REGISTERED: registration.registered_at}, now, seen.asked_at)
                if counted[record.id] > 1:
                    lifecycle.mark_duplicate(record)
        for canary_id in [canary_id for canary_id in self._rejected if canary_id not in open_records]:
            del self._rejected[canary_id]
        for record in seen.records:
            if record in self._canaries:
                with self._canaries.changing(record):
                    lifecycle.looked(record, "readback", seen.asked_at)

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

    def _check_failed(self, failure: CheckFailed) -> None:
        error = failure.error
        self._metrics.check_failed(failure.channel, failure.target, error.reason)
        record = failure.record
        about = f" vendor={record.vendor} canary={record.id}" if record is not None else ""
        self._check_failures.log(
            logging.WARNING,
            f"{failure.target}:{failure.channel.value}:{error.reason.value}",
            f"check failed: target={failure.target} channel={failure.channel.value} "
            f"reason={error.reason.value}{about}",
            extra={
                **_failure_fields(error, record),
                "target": failure.target,
                "channel": failure.channel.value,
            },
        )
        if record is not None and error.detail and record in self._canaries:
            with self._canaries.changing(record):
                lifecycle.note(record, error.detail)

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
                self._canaries.after_commit(
                    functools.partial(self._metrics.hop_time_reading_error, record.channel, hop)
                )
                later = order[order.index(hop) + 1 :]
                stamped = min([asked_at, *(t for h, t in {**readable, **record.hops}.items() if h in later)])
            # Upstream clocks are not ours: keep the time between sending and now.
            at = min(max(stamped, record.created_at), now)
            lifecycle.reach(record, hop, at)
            self._canaries.after_commit(functools.partial(self._metrics.hop_reached, record, hop, at))


def _failure_fields(error: UpstreamError, record: CanaryRecord | None) -> dict[str, object]:
    """The structured fields of an upstream failure's log line (``--log-format json``): never a label,
    and ``detail`` is already cleaned of anything token-like (:mod:`probe.diagnostics`)."""
    route: dict[str, object] = {}
    if record is not None:
        route = {
            "canary_id": record.id,
            "route": f"{record.channel.value}/{record.municipality}",
            "channel": record.channel.value,
            "municipality": record.municipality,
            "vendor": record.vendor,
        }
    return {
        "event": "upstream_failure",
        **route,
        "upstream": error.upstream,
        "reason": error.reason.value,
        "status_code": error.status_code,
        "maybe_processed": error.maybe_processed,
        "detail": error.detail,
    }
