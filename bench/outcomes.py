"""The canaries a synthetic history (:mod:`bench.history`) is made of: its routes, one record per kind of
route and kind of outcome laid out as a row to copy, and the SQL that copies them, drawing each
canary's outcome.

Every template is a real :class:`~probe.lifecycle.record.CanaryRecord` sent at time 0 (its times are
offsets from sending), laid out with :func:`probe.ledger.rows.to_row`, with the counters
:func:`probe.lifecycle.counters.counter_keys` gives it; a canary of the history is its template with the
route's name, ids of its own and its times moved to its sending.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Sequence

from probe.config.routes import Route as ConfiguredRoute
from probe.hops import Channel, Hop, Verdict, hops_until, owner_of
from probe.ledger.rows import ledger_count, to_row
from probe.lifecycle.counters import counter_keys
from probe.lifecycle.record import CanaryRecord, State

# How often each outcome happens, per thousand canaries (the rest are delivered).
ODDS = {"lost": 20, "late": 5, "rejected": 5, "send_failure": 5, "unknown": 5, "duplicate": 2}
KINDS = ("delivered", *ODDS, "in_flight")
# Hop offsets after sending, in seconds, for a canary that reaches every hop.
HOP_DELAYS = {
    Channel.PORTAL: {Hop.ACCEPTED: 1.2, Hop.FORWARDED: 25.0, Hop.RECEIPTED: 70.0, Hop.REGISTERED: 140.0},
    Channel.ALTINN: {
        Hop.ACCEPTED: 0.9, Hop.PUBLISHED: 12.0, Hop.FETCHED: 300.0, Hop.READ: 420.0, Hop.REGISTERED: 480.0
    },
}  # fmt: skip
FINAL = {Channel.PORTAL: Hop.REGISTERED, Channel.ALTINN: Hop.FETCHED}
DEADLINE = 900.0
# Lost and unknown canaries are watched for a late arrival this long (the default ``late_window``).
LATE_WINDOW = 86_400.0
# A marker of the real one's length (payload of id, channel, kommunenummer, iat, kid; Ed25519 signature).
MARKER = "KANARI1." + "e" * 158 + "." + "s" * 86
STATES = (State.CLOSED, State.RESOLVED, State.IN_FLIGHT)
# The columns that hold times (offsets from sending in a template).
_TIMES = frozenset((
    "created_at", "deadline_at", *(f"hop_{hop.value}" for hop in Hop), "status_ok_at", "readback_ok_at",
    "verdict_at", "late_at", "cleaned_at",
))  # fmt: skip
# Hashes are taken modulo this prime (2**31 - 1): every product of two stays within SQLite's integers.
_PRIME = 2_147_483_647


@dataclasses.dataclass(frozen=True)
class Route:
    """One synthetic route: (channel, municipality) with its vendor and the report version it is sent in
    (``switch_at``: when it moved from v1 to v2, for routes whose newest version is not their first), and
    its final hop (``None``: the channel's usual one, :data:`FINAL`)."""

    channel: Channel
    municipality: str
    vendor: str
    api_version: str | None
    switch_at: float | None = None
    final_hop: Hop | None = None

    @property
    def key(self) -> tuple[Channel, str]:
        """(channel, kommunenummer), as the ledger keys routes."""
        return (self.channel, self.municipality)

    @property
    def final(self) -> Hop:
        """The hop that makes its canaries delivered."""
        return self.final_hop or FINAL[self.channel]


def routes_of(count: int) -> tuple[Route, ...]:
    """``count`` routes: portal and Altinn alternately on municipalities ``0000``, ``0001``, ... (more
    than the 357 real ones, for scale), vendors of 20 routes each; one portal route in ten still on v1
    and one in ten moving from v1 to v2 half way (set in :func:`build`)."""
    routes = []
    for index in range(count):
        channel = (Channel.PORTAL, Channel.ALTINN)[index % 2]
        version = None if channel is Channel.ALTINN else ("v1" if index % 20 == 0 else "v2")
        routes.append(Route(channel, f"{index // 2:04d}", f"vendor{index // 20:03d}", version))
    return tuple(routes)


def routes_like(configured: Iterable[ConfiguredRoute]) -> tuple[Route, ...]:
    """The history's routes for a probe's configured ones: the same keys, vendors and final hops, portal
    reports in the version the route asks for (``v2`` where it negotiates), Altinn without one."""
    return tuple(
        Route(
            route.channel,
            route.kommunenummer,
            route.vendor,
            (route.api_version if route.api_version in ("v1", "v2") else "v2")
            if route.channel is Channel.PORTAL
            else None,
            final_hop=route.final_hop,
        )
        for route in configured
    )


def record(route: Route, kind: str, state: State) -> CanaryRecord:
    """The record of one kind of outcome on ``route``, sent at time 0 (times are offsets)."""
    final = route.final
    delays = {
        hop: at
        for hop, at in HOP_DELAYS[route.channel].items()
        if hop is not Hop.REGISTERED or final is Hop.REGISTERED
    }
    needed = hops_until(route.channel, final)
    record = CanaryRecord(
        id="",
        channel=route.channel,
        municipality=route.municipality,
        vendor=route.vendor,
        bydel="00" if route.channel is Channel.PORTAL else None,
        final_hop=final,
        created_at=0.0,
        deadline_at=DEADLINE,
        marker=MARKER,
        state=state,
        upstream_id="",
        api_version=route.api_version,
    )
    if kind == "in_flight":
        record.hops = {Hop.ACCEPTED: delays[Hop.ACCEPTED]}
        record.status_ok_at = 5.0
        return record
    record.status_ok_at = record.readback_ok_at = DEADLINE
    if kind in ("delivered", "duplicate"):
        record.hops = dict(delays)
        record.verdict, record.verdict_at = Verdict.DELIVERED, delays[final] + 15.0
        record.duplicate = kind == "duplicate"
        record.last_status = "LEVERT" if route.channel is Channel.PORTAL else "Read"
    elif kind in ("lost", "late", "rejected"):
        blamed = needed[2]
        record.hops = {hop: delays[hop] for hop in needed[:2]}
        record.blamed_hop, record.blamed_owner = blamed, owner_of(route.channel, blamed)
        if kind == "rejected":
            record.verdict, record.verdict_at = Verdict.FAILED, 90.0
            record.diagnostics = "AVVIST_FAGSYSTEM: Fagsystemet kunne ikke lese meldingen"
        else:
            record.verdict, record.verdict_at = Verdict.LOST, DEADLINE
            if kind == "late":
                record.late_at = DEADLINE + 1800.0
    elif kind == "send_failure":
        record.upstream_id = None
        record.failure_reason = "http_5xx"
        record.verdict, record.verdict_at = Verdict.FAILED, 2.0
        record.blamed_hop, record.blamed_owner = Hop.ACCEPTED, owner_of(route.channel, Hop.ACCEPTED)
    else:  # unknown: every look errored
        record.hops = {Hop.ACCEPTED: delays[Hop.ACCEPTED]}
        record.verdict, record.verdict_at = Verdict.UNKNOWN, DEADLINE
        record.status_ok_at = record.readback_ok_at = None
    if state is State.CLOSED:
        record.cleaned_at = record.verdict_at + 60.0
    return record


@dataclasses.dataclass(frozen=True)
class Template:
    """One kind of route's record of one outcome in one state, laid out as a row, and its counters
    (``None`` where a counter names the route: filled in per route)."""

    row: tuple[object, ...]
    counters: tuple[tuple[str, str, str], ...]


def templates(classes: Sequence[Route]) -> dict[int, Template]:
    """Every template by id: ``(class * len(KINDS) + kind) * 3 + state``, as the insert computes it."""
    made: dict[int, Template] = {}
    for number, route in enumerate(classes):
        for kind_number, kind in enumerate(KINDS):
            for state_number, state in enumerate(STATES):
                if (kind == "in_flight") != (state is State.IN_FLIGHT):
                    continue
                canary = record(route, kind, state)
                counts = [ledger_count(canary, key) for key in counter_keys(canary)]
                made[(number * len(KINDS) + kind_number) * len(STATES) + state_number] = Template(
                    to_row(canary), tuple((count[0], count[4], count[5]) for count in counts)
                )
    return made


def kind_of_draws() -> list[int]:
    """The kind (index in :data:`KINDS`) of each draw from 0 to 999, by :data:`ODDS`."""
    kinds: list[int] = []
    for number, kind in enumerate(KINDS[1:-1], start=1):
        kinds += [number] * ODDS[kind]
    return kinds + [KINDS.index("delivered")] * (1000 - len(kinds))


def hash_sql(x: str, multiplier: int, addend: int) -> str:
    """SQL for a pseudo-random number below 2**31 from the integer expression ``x`` (an affine map, then
    squared, modulo a prime: consecutive slots and routes do not fall into a pattern)."""
    affine = f"(({x}) * {multiplier} + {addend}) % {_PRIME}"
    return f"((({affine}) * ({affine})) % {_PRIME})"


def insert_sql(columns: tuple[str, ...], seed: int, ordered_ids: bool) -> tuple[str, str]:
    """The statement that writes every canary of ``:first`` to ``:last`` slots back from the end
    (oldest first), and the query of how many canaries each (route, template) got; ``ordered_ids``:
    ids ascending in creation order instead of random."""
    rng = random.Random(seed)
    draw, id_a, id_b = (hash_sql("x", rng.randrange(1, _PRIME), rng.randrange(_PRIME)) for _ in range(3))
    kind = f"CASE WHEN age = 0 THEN {len(KINDS) - 1} ELSE d.kind END"
    delivered = (KINDS.index("delivered"), KINDS.index("duplicate"))
    watched = (KINDS.index("lost"), KINDS.index("unknown"))
    state = (
        "CASE WHEN age = 0 THEN 2 "
        f"WHEN (age = 1 AND kind IN {delivered} AND registered) "
        f"OR (kind IN {watched} AND :end - created < {LATE_WINDOW}) THEN 1 ELSE 0 END"
    )
    chosen = f"""
        WITH RECURSIVE slot(age) AS (SELECT :last UNION ALL SELECT age - 1 FROM slot WHERE age > :first),
        cell AS (
            SELECT age, r.*, :end - (age + 1) * :interval + r.phase AS created, age * :routes + r.idx AS x
            FROM slot CROSS JOIN history_routes AS r),
        kinded AS (
            SELECT cell.*, {kind} AS kind FROM cell JOIN history_draws AS d ON d.draw = {draw} % 1000),
        chosen AS (
            SELECT *, ((CASE WHEN created < switch_at THEN class_before ELSE class_after END)
                * {len(KINDS)} + kind) * 3 + {state} AS template
            FROM kinded)"""
    uuid = "printf('%08x-%04x-4%03x-%04x-%012x', {first}, ({b}) & 65535, (({b}) >> 16) & 4095, "
    uuid += "32768 | ((({b}) >> 4) & 16383), x + {tag})"
    values = []
    for column in columns:
        if column == "id":
            first = "(:last - age) * :routes + idx" if ordered_ids else f"({id_a}) * 2 + (x & 1)"
            values.append(uuid.format(first=first, b=id_b, tag=0))
        elif column == "upstream_id":
            upstream = uuid.format(first=f"({id_b}) * 2 + (x & 1)", b=id_a, tag=1 << 44)
            values.append(f"CASE WHEN t.upstream_id IS NULL THEN NULL ELSE {upstream} END")
        elif column in ("channel", "municipality", "vendor"):
            values.append(f"c.{column}")
        elif column in _TIMES:
            values.append(f"c.created + t.{column}")
        else:
            values.append(f"t.{column}")
    insert = (
        f"INSERT INTO canaries ({', '.join(columns)}) {chosen} "
        f"SELECT {', '.join(values)} FROM chosen AS c JOIN history_kinds AS t ON t.template = c.template"
    )
    return insert, f"{chosen} SELECT idx, template, COUNT(*) FROM chosen GROUP BY idx, template"
