"""A small ledger for the status page's tests: the read methods it uses, over records and incidents
given in memory (the real ledgers are tested in tests/ledger and through the end-to-end test)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from probe.config.routes import Route
from probe.errors import LedgerError
from probe.hops import Channel, Hop, Owner, Verdict
from probe.lifecycle.incident import Incident
from probe.lifecycle.record import CanaryRecord, State

NOW = 1_767_225_600.0 + 40 * 86400


def route(channel: Channel, kommunenummer: str, name: str, county: str, vendor: str) -> Route:
    """A configured route with the demo's timing."""
    return Route(
        channel=channel,
        kommunenummer=kommunenummer,
        municipality_name=name,
        county=county,
        orgnr="999999999",
        vendor=vendor,
        bydel=None,
        interval=300.0,
        deadline=600.0 if channel is Channel.PORTAL else 3600.0,
        poll_interval=15.0,
        final_hop=Hop.REGISTERED if channel is Channel.PORTAL else Hop.FETCHED,
    )


ROUTES = (
    route(Channel.PORTAL, "4601", "Bergen", "Vestland", "nordlys"),
    route(Channel.ALTINN, "4601", "Bergen", "Vestland", "nordlys"),
    route(Channel.PORTAL, "0301", "Oslo", "Oslo", "fjordsys"),
    route(Channel.ALTINN, "0301", "Oslo", "Oslo", "fjordsys"),
    route(Channel.PORTAL, "1146", "Tysvær", "Rogaland", "nordlys"),
)
VENDORS = {"nordlys": "Nordlys Fagsystem AS", "fjordsys": "Fjordsys AS"}


def record(
    route: Route,
    number: int,
    sent: float,
    verdict: Verdict | None,
    *,
    hops: dict[Hop, float] | None = None,
    blamed: Hop | None = None,
) -> CanaryRecord:
    """A canary on ``route`` sent at ``sent``, with hop times in seconds after sending."""
    canary = CanaryRecord(
        id=f"00000000-0000-4000-8000-{number:012d}",
        channel=route.channel,
        municipality=route.kommunenummer,
        vendor=route.vendor,
        bydel=None,
        final_hop=route.final_hop,
        created_at=sent,
        deadline_at=sent + route.deadline,
        marker="KANARI1.secret-marker.signature",
        state=State.RESOLVED if verdict is not None else State.IN_FLIGHT,
        hops={hop: sent + seconds for hop, seconds in (hops or {}).items()},
        verdict=verdict,
        verdict_at=sent + route.deadline if verdict is not None else None,
        blamed_hop=blamed,
        blamed_owner=Owner.VENDOR if blamed is not None else None,
        diagnostics="upstream said: internal detail",
    )
    return canary


PORTAL_DONE = {Hop.ACCEPTED: 1.0, Hop.FORWARDED: 4.0, Hop.RECEIPTED: 30.0, Hop.REGISTERED: 75.0}
ALTINN_DONE = {Hop.ACCEPTED: 1.0, Hop.PUBLISHED: 3.0, Hop.FETCHED: 900.0}


def incident(
    route: Route, *, opened: float, start: float, end: float | None, hop: Hop, owner: Owner
) -> Incident:
    """An incident on ``route``; closed when ``end`` is given."""
    return Incident(
        id=f"inc-{route.channel.value}-{route.kommunenummer}-{int(opened)}",
        channel=route.channel,
        municipality=route.kommunenummer,
        vendor=route.vendor,
        hop=hop,
        owner=owner,
        opened_at=opened,
        first_canary="00000000-0000-4000-8000-000000000099",
        exposure_start=start,
        exposure_end=end,
        closed_at=end + 60 if end is not None else None,
        canaries=3,
        retained_until=start + 30 * 86400,
    )


class FakeLedger:
    """The status page's reads over in-memory records (newest last in ``records``) and incidents."""

    def __init__(self, records: Sequence[CanaryRecord], incidents: Sequence[Incident] = ()) -> None:
        self.records = list(records)
        self.incident_list = list(incidents)
        self.fail = False
        self.closed = 0
        self.reads = 0
        self.window_reads = 0

    def _check(self) -> None:
        self.reads += 1
        if self.fail:
            raise LedgerError("ledger read failed: disk I/O error")

    def latest_verdicts(self) -> dict[tuple[Channel, str], Verdict]:
        self._check()
        result: dict[tuple[Channel, str], Verdict] = {}
        for canary in sorted(self.records, key=lambda r: r.created_at):
            if canary.verdict is not None:
                result[canary.route_key] = canary.verdict
        return result

    def newest_delivered(self) -> list[CanaryRecord]:
        self._check()
        newest: dict[tuple[Channel, str], CanaryRecord] = {}
        for canary in sorted(self.records, key=lambda r: r.created_at):
            if canary.verdict is Verdict.DELIVERED:
                newest[canary.route_key] = canary
        return list(newest.values())

    def recent_canaries(self, channel: Channel, municipality: str, limit: int) -> list[CanaryRecord]:
        self._check()
        own = [r for r in self.records if r.route_key == (channel, municipality)]
        return sorted(own, key=lambda r: r.created_at, reverse=True)[:limit]

    def verdict_counts(
        self, routes: Iterable[tuple[Channel, str]], since: float
    ) -> dict[tuple[Channel, str], dict[Verdict, int]]:
        self._check()
        self.window_reads += 1
        result: dict[tuple[Channel, str], dict[Verdict, int]] = {}
        for key in routes:
            counts: dict[Verdict, int] = {}
            for canary in self.records:
                if canary.route_key == key and canary.created_at >= since and canary.verdict is not None:
                    counts[canary.verdict] = counts.get(canary.verdict, 0) + 1
            result[key] = counts
        return result

    def incidents(
        self, *, open_only: bool = False, channel: Channel | None = None, municipality: str | None = None
    ) -> list[Incident]:
        self._check()
        return [
            i
            for i in sorted(self.incident_list, key=lambda i: i.opened_at, reverse=True)
            if (not open_only or i.open)
            and (channel is None or i.channel is channel)
            and (municipality is None or i.municipality == municipality)
        ]

    def close(self) -> None:
        self.closed += 1


def broken_bergen() -> FakeLedger:
    """Bergen's portal route broken at its registered hop (an open incident), every other route fine
    but Tysvær, which has no verdict yet; Oslo's Altinn route unknown (read-back blind)."""
    bergen_p, bergen_a, oslo_p, oslo_a, tysvaer = ROUTES
    records = []
    number = 0
    for day in range(35):
        sent = NOW - (35 - day) * 86400
        for item in (bergen_a, oslo_p):
            number += 1
            done = PORTAL_DONE if item.channel is Channel.PORTAL else ALTINN_DONE
            records.append(record(item, number, sent, Verdict.DELIVERED, hops=done))
        number += 1
        # Bergen's portal: delivered for 30 days, lost for the last 5.
        if day < 30:
            records.append(record(bergen_p, number, sent, Verdict.DELIVERED, hops=PORTAL_DONE))
        else:
            lost: dict[Hop, float] = {hop: s for hop, s in PORTAL_DONE.items() if hop is not Hop.REGISTERED}
            records.append(record(bergen_p, number, sent, Verdict.LOST, hops=lost, blamed=Hop.REGISTERED))
    records.append(record(oslo_a, 9001, NOW - 7200, Verdict.UNKNOWN, hops={Hop.ACCEPTED: 1.0}))
    records.append(record(tysvaer, 9002, NOW - 60, None, hops={Hop.ACCEPTED: 1.0}))
    last_good = NOW - 6 * 86400
    incidents = [
        incident(
            bergen_p,
            opened=NOW - 5 * 86400 + 600,
            start=last_good,
            end=None,
            hop=Hop.REGISTERED,
            owner=Owner.VENDOR,
        ),
        incident(
            bergen_p,
            opened=NOW - 20 * 86400,
            start=NOW - 21 * 86400,
            end=NOW - 19 * 86400,
            hop=Hop.RECEIPTED,
            owner=Owner.VENDOR,
        ),
    ]
    return FakeLedger(records, incidents)
