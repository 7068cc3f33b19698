"""What a log line about one canary says: a readable text and the same facts as structured fields.

A verdict other than ``delivered``, a late arrival and a duplicate registration each get one line
(:mod:`probe.lifecycle.record` writes them), so that the log of an outage tells which canaries broke, on
which route, at which hop, whose hop it is, and the ids a vendor or KS searches its own system for. The
fields go into the log call's ``extra``: ``--log-format json`` makes them keys (the names below are
stable), the text format shows :func:`describe`.

Never in a line: the marker (a vendor may hide a report carrying a valid one), the report's content, a
secret. ``detail`` is what upstreams said, already bounded and cleaned by :mod:`probe.diagnostics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

from probe.clock import to_rfc3339
from probe.hops import Channel, Hop, Owner, Verdict

Event = Literal["verdict", "late_arrival", "duplicate"]


class Told(Protocol):
    """What a line reads of a canary: a :class:`~probe.lifecycle.record.CanaryRecord` (a protocol, so
    that the record's module can import this one without a cycle)."""

    @property
    def id(self) -> str: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def municipality(self) -> str: ...
    @property
    def bydel(self) -> str | None: ...
    @property
    def vendor(self) -> str: ...
    @property
    def verdict(self) -> Verdict | None: ...
    @property
    def blamed_hop(self) -> Hop | None: ...
    @property
    def blamed_owner(self) -> Owner | None: ...
    @property
    def upstream_id(self) -> str | None: ...
    @property
    def created_at(self) -> float: ...
    @property
    def deadline_at(self) -> float: ...
    @property
    def hops(self) -> Mapping[Hop, float]: ...
    @property
    def last_status(self) -> str | None: ...
    @property
    def late_at(self) -> float | None: ...
    @property
    def diagnostics(self) -> str | None: ...


# The name under which each channel's upstream knows the canary (KS's report id, Altinn's
# correspondence id): the key a vendor or the channel's operator searches for.
UPSTREAM_ID_NAME: dict[Channel, str] = {Channel.PORTAL: "report_id", Channel.ALTINN: "correspondence_id"}


def fields(record: Told, event: Event) -> dict[str, object]:
    """The structured fields of a line about ``record`` (every key present, ``None`` when unknown)."""
    return {
        "event": event,
        "canary_id": record.id,
        "route": f"{record.channel.value}/{record.municipality}",
        "channel": record.channel.value,
        "municipality": record.municipality,
        "bydel": record.bydel,
        "vendor": record.vendor,
        "verdict": record.verdict.value if record.verdict else None,
        "hop": record.blamed_hop.value if record.blamed_hop else None,
        "owner": record.blamed_owner.value if record.blamed_owner else None,
        "upstream_id": record.upstream_id,
        UPSTREAM_ID_NAME[record.channel]: record.upstream_id,
        "sent_at": to_rfc3339(record.created_at),
        "deadline_at": to_rfc3339(record.deadline_at),
        "hops": {hop.value: to_rfc3339(at) for hop, at in sorted(record.hops.items(), key=lambda i: i[1])},
        "last_status": record.last_status,
        "late_at": to_rfc3339(record.late_at) if record.late_at is not None else None,
        "detail": record.diagnostics,
    }


def describe(record: Told) -> str:
    """The readable part: route, canary, vendor, blamed hop and owner, upstream id, what upstreams said."""
    return (
        f"route={record.channel.value}/{record.municipality} canary={record.id} vendor={record.vendor} "
        f"hop={record.blamed_hop.value if record.blamed_hop else '-'} "
        f"owner={record.blamed_owner.value if record.blamed_owner else '-'} "
        f"{UPSTREAM_ID_NAME[record.channel]}={record.upstream_id or '-'} detail={record.diagnostics or '-'}"
    )
