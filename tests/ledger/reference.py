"""What the ledger's start questions answer, computed the slow way: from every row, in Python, the way
the window queries of schema 3 asked them. Tests compare :class:`~probe.ledger.sqlite.Ledger` with this
on ledgers with history, so ``route_latest`` can never drift from the rows it summarises."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from probe.hops import Channel, Verdict
from probe.ledger.postgres import PostgresLedger
from probe.ledger.rows import LedgerCount, ledger_count
from probe.ledger.sqlite import Ledger
from probe.lifecycle.counters import counter_keys
from probe.lifecycle.record import CanaryRecord, State

RouteKey = tuple[Channel, str]


@dataclasses.dataclass(frozen=True)
class Answers:
    """Everything :meth:`probe.engine.core.Engine.start` and ``kanari status`` read, comparable."""

    last_created: dict[RouteKey, float]
    latest_versions: dict[RouteKey, str]
    newest_delivered: set[str]
    open_records: list[str]
    status: dict[RouteKey, list[str]]
    counts: dict[LedgerCount, int]
    # The status page's questions (probe.ledger.history): newest verdicts, newest canaries, and verdicts
    # over the six hours before the newest canary (younger than any pruning cutoff in these tests).
    latest_verdicts: dict[RouteKey, Verdict] = dataclasses.field(default_factory=dict)
    recent: dict[RouteKey, list[str]] = dataclasses.field(default_factory=dict)
    verdicts: dict[RouteKey, dict[Verdict, int]] = dataclasses.field(default_factory=dict)


# How many newest canaries per route the reference compares, and the window of the verdict counts.
RECENT = 5
WINDOW = 6 * 3600.0


def _newest(records: Iterable[CanaryRecord]) -> dict[RouteKey, CanaryRecord]:
    newest: dict[RouteKey, CanaryRecord] = {}
    for record in records:
        held = newest.get(record.route_key)
        if held is None or record.created_at > held.created_at:
            newest[record.route_key] = record
    return newest


def expected(records: list[CanaryRecord]) -> Answers:
    """The answers for a ledger holding exactly ``records`` (every counter from its rows)."""
    counts: dict[LedgerCount, int] = {}
    for record in records:
        for key in counter_keys(record):
            count = ledger_count(record, key)
            counts[count] = counts.get(count, 0) + 1
    resolved = _newest(r for r in records if r.verdict is not None)
    status: dict[RouteKey, list[CanaryRecord]] = {}
    for record in [*resolved.values(), *(r for r in records if r.verdict is None)]:
        status.setdefault(record.route_key, []).append(record)
    return Answers(
        last_created={key: record.created_at for key, record in _newest(records).items()},
        latest_versions={
            key: record.api_version
            for key, record in _newest(r for r in records if r.api_version is not None).items()
            if record.api_version
        },
        newest_delivered={
            r.id for r in _newest(r for r in records if r.verdict is Verdict.DELIVERED).values()
        },
        open_records=[
            r.id for r in sorted(records, key=lambda r: r.created_at) if r.state is not State.CLOSED
        ],
        status={
            key: [r.id for r in sorted(found, key=lambda r: r.created_at, reverse=True)]
            for key, found in status.items()
        },
        counts=counts,
        latest_verdicts={key: record.verdict for key, record in resolved.items() if record.verdict},
        recent={
            key: [r.id for r in sorted(own, key=lambda r: r.created_at, reverse=True)][:RECENT]
            for key, own in _by_route(records).items()
        },
        verdicts=_window(records),
    )


def _by_route(records: Iterable[CanaryRecord]) -> dict[RouteKey, list[CanaryRecord]]:
    routes: dict[RouteKey, list[CanaryRecord]] = {}
    for record in records:
        routes.setdefault(record.route_key, []).append(record)
    return routes


def _window(records: list[CanaryRecord]) -> dict[RouteKey, dict[Verdict, int]]:
    since = max((r.created_at for r in records), default=0.0) - WINDOW
    counts: dict[RouteKey, dict[Verdict, int]] = {key: {} for key in _by_route(records)}
    for record in records:
        if record.created_at >= since and record.verdict is not None:
            route = counts[record.route_key]
            route[record.verdict] = route.get(record.verdict, 0) + 1
    return counts


def answers(ledger: Ledger | PostgresLedger) -> Answers:
    """What ``ledger`` answers (open records in creation order; ties do not occur in these tests)."""
    return Answers(
        last_created=ledger.last_created(),
        latest_versions=ledger.latest_versions(),
        newest_delivered={record.id for record in ledger.newest_delivered()},
        open_records=[record.id for record in ledger.open_records()],
        status={key: [record.id for record in found] for key, found in ledger.latest_per_route().items()},
        counts=ledger.counts(),
        latest_verdicts=ledger.latest_verdicts(),
        recent={
            key: [record.id for record in ledger.recent_canaries(key[0], key[1], RECENT)]
            for key in ledger.last_created()
        },
        verdicts=ledger.verdict_counts(
            list(ledger.last_created()), max(ledger.last_created().values(), default=0.0) - WINDOW
        ),
    )
