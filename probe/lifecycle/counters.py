"""The counters a canary contributes to, declared once.

Every canary counter of ``/metrics`` is a count of records with some property (sent, failed to send,
resolved with a verdict, lost or failed at a hop, late, duplicated, rejected by the upstream, not
removed at the vendor).
:func:`counter_keys` is the one statement of those properties. The engine adds one to each key a record
gains when the change is committed, and the ledger keeps the same totals in the same transaction, so a
restart reads them back instead of re-deriving them: Python and SQL can never disagree, because the
ledger does not know what the counters mean.

Fields that decide a key are only ever set, never cleared, so a record's keys only grow: counters never
go backwards (which Prometheus would read as a reset).
"""

from __future__ import annotations

from probe.hops import Verdict
from probe.lifecycle.record import CanaryRecord, State

CounterKey = tuple[str, tuple[str, ...]]
"""(counter name, label values after channel/municipality/vendor)."""

SENT, SEND_FAILURES, RESOLVED, UNDELIVERED = "sent", "send_failures", "resolved", "undelivered"
LATE_ARRIVALS, DUPLICATES, REJECTIONS = "late_arrivals", "duplicates", "rejections"
CLEANUP_FAILURES = "cleanup_failures"
COUNTERS = (
    SENT,
    SEND_FAILURES,
    RESOLVED,
    UNDELIVERED,
    LATE_ARRIVALS,
    DUPLICATES,
    REJECTIONS,
    CLEANUP_FAILURES,
)
"""Every canary counter's name; the metric families of :mod:`probe.metrics` are keyed by them."""


def counter_keys(record: CanaryRecord) -> set[CounterKey]:
    """The canary counters ``record`` contributes one to."""
    keys: set[CounterKey] = set()
    if record.state is not State.INTENT:
        keys.add((SENT, ()))
    if record.failure_reason is not None:
        keys.add((SEND_FAILURES, (record.failure_reason,)))
    if record.verdict is not None:
        keys.add((RESOLVED, (record.verdict.value,)))
        if record.verdict in (Verdict.LOST, Verdict.FAILED) and record.blamed_hop and record.blamed_owner:
            keys.add((UNDELIVERED, (record.blamed_hop.value, record.blamed_owner.value)))
        if record.verdict is Verdict.FAILED and record.failure_reason is None:
            keys.add((REJECTIONS, ()))
    if record.late_at is not None:
        keys.add((LATE_ARRIVALS, ()))
    if record.duplicate:
        keys.add((DUPLICATES, ()))
    if record.cleanup_failed_at is not None:
        keys.add((CLEANUP_FAILURES, ()))
    return keys
