"""``python -m bench.status_page`` (the ``status`` part of ``make bench``): what the status page costs at
the production route set, against the least the same work could cost.

714 routes (every municipality of the packaged registry on both channels, three vendors in turn), a real
SQLite ledger holding ``--days`` of history at production timing (a portal canary per route every 15
minutes, an Altinn one every hour: 96 + 24 per municipality a day), one in flight per route; every 50th
route (portal ones) losing its last hour (an open incident) and every route losing one canary every ten
days (a past incident), the incidents judged by the probe's own rule
(:func:`probe.lifecycle.incidents.judged`) and saved with the canaries, a few routes per transaction
(1.3 M canaries at 30 days: about 3 minutes on a busy 2-core machine, so the ledger is built once and
every page is measured on it).

Per page, on the page's own code path (:class:`~probe.http.status.site.StatusSite`, its read-only ledger
connection, its views and Jinja2 rendering), uncached: median and worst milliseconds of ``--repeat``
renders, and the **baseline** measured in the same run, alternating with them: the ledger reads that page
needs and nothing else (the same calls through the same read-only connection; no view built, nothing
rendered). The page ÷ its reads is what the views and templates add. The vendor page is measured cold
(its 7- and 30-day counts read, once a minute in production) and warm (the counts kept, every other
render). Then the event loop's lag while the national and vendor pages render on the site's worker
thread, against the same loop idle (:mod:`bench.status_lag`).

What it does not measure: HTTP over a socket, gzip, the browser; a ledger on PostgreSQL; a ledger being
written while it is read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.status_lag import Lag, LoopFigures, loop_lag
from probe.clock import FakeClock
from probe.config.durations import KS_RETENTION_DEFAULT
from probe.config.registry import packaged_registry
from probe.config.routes import Route
from probe.hops import Channel, Hop, Verdict, default_final_hop, hops_until
from probe.http.status import views
from probe.http.status.site import DAY, WINDOW_CACHE_SECONDS, StatusLedger, StatusSite
from probe.http.status.texts import Language
from probe.ledger.sqlite import Ledger
from probe.lifecycle.incidents import RouteIncidents, TrackedIncident, judged, pruned
from probe.lifecycle.record import CanaryRecord, State

VENDORS = ("nordlys", "fjordsys", "vidde")
VENDOR = VENDORS[0]
# Production timing (the example configuration): portal every 15 minutes, Altinn every hour.
INTERVALS = {Channel.PORTAL: 900.0, Channel.ALTINN: 3600.0}
START = 1_767_225_600.0
NOW = START + 40 * DAY
# Every BROKEN_EVERY-th route has lost its last hour; every route loses a canary every PAST_EVERY.
BROKEN_EVERY = 50
PAST_EVERY = 10 * DAY
# Routes per ledger transaction while filling.
ROUTES_PER_SAVE = 20


def routes() -> list[Route]:
    """Every municipality of the registry on both channels, vendors in turn, at production timing."""
    found = []
    for index, municipality in enumerate(sorted(packaged_registry(), key=lambda m: m.kommunenummer)):
        for channel in Channel:
            found.append(
                Route(
                    channel=channel,
                    kommunenummer=municipality.kommunenummer,
                    municipality_name=municipality.name,
                    county=municipality.county,
                    orgnr=municipality.orgnr,
                    vendor=VENDORS[index % len(VENDORS)],
                    bydel=None,
                    interval=INTERVALS[channel],
                    deadline=1800.0,
                    poll_interval=30.0,
                    final_hop=default_final_hop(channel, vendor_has_readback=True),
                )
            )
    return found


def _history(
    number: int, route: Route, days: float, now: float
) -> tuple[list[CanaryRecord], list[TrackedIncident]]:
    """One route's closed canaries every ``route.interval`` over ``days`` up to ``now``, its incidents
    as the probe judges them, and one canary in flight."""
    records, incidents = [], {}
    state = RouteIncidents()
    offsets = {hop: 10.0 * (i + 1) for i, hop in enumerate(hops_until(route.channel, route.final_hop))}
    # Each route loses its canary every PAST_EVERY at a phase of its own.
    every = max(1, int(PAST_EVERY // route.interval))
    sent = now - days * DAY
    slot = 0
    while sent < now - route.interval:
        broken = (number % BROKEN_EVERY == 0 and sent > now - 3600) or (
            slot + 7 * number
        ) % every == every - 1
        record = CanaryRecord.for_route(route, f"{number:05d}-{int(sent)}", "KANARI1.x.y", sent)
        record.state = State.CLOSED
        record.hops = {hop: sent + offset for hop, offset in offsets.items()}
        if broken:
            record.hops.pop(route.final_hop)
        record.verdict = Verdict.LOST if broken else Verdict.DELIVERED
        record.verdict_at = sent + 600
        record.blamed_hop = route.final_hop if broken else None
        records.append(record)
        change = judged(state, record, KS_RETENTION_DEFAULT)
        state = pruned(change.state, None)
        incidents.update({tracked.incident.id: tracked for tracked in change.changed})
        sent += route.interval
        slot += 1
    in_flight = CanaryRecord.for_route(route, f"{number:05d}-open", "KANARI1.x.y", now - 10)
    in_flight.state = State.IN_FLIGHT
    in_flight.hops = {Hop.ACCEPTED: now - 9}
    records.append(in_flight)
    return records, list(incidents.values())


def fill(ledger: Ledger, all_routes: list[Route], days: float, now: float) -> tuple[int, int]:
    """Write ``days`` of history on every route (see the module's docstring). Returns the canaries and
    the incidents written."""
    canaries = incidents = 0
    for first in range(0, len(all_routes), ROUTES_PER_SAVE):
        records: list[CanaryRecord] = []
        tracked: list[TrackedIncident] = []
        for number in range(first, min(first + ROUTES_PER_SAVE, len(all_routes))):
            more, found = _history(number, all_routes[number], days, now)
            records += more
            tracked += found
        ledger.save(records, incidents=tracked)
        canaries += len(records)
        incidents += len(tracked)
    return canaries, incidents


@dataclasses.dataclass
class Timing:
    """Milliseconds per call: median and worst."""

    median: float
    worst: float


@dataclasses.dataclass
class Page:
    """One page: its render and its ledger reads alone (the baseline), and its size."""

    page: Timing
    reads: Timing
    size: int

    @property
    def ratio(self) -> float:
        """The page's median ÷ its reads' median: what views and templates add."""
        return self.page.median / max(self.reads.median, 1e-9)


def _timing(times: list[float]) -> Timing:
    return Timing(statistics.median(times), max(times))


def measure(
    render: Callable[[], str],
    reads: Callable[[], object],
    repeat: int,
    before: Callable[[], object] = lambda: None,
) -> Page:
    """``render()`` and ``reads()`` ``repeat`` times each, alternating (so a busy moment of the machine
    falls on both), ``before()`` ahead of each; the page's size from the last render."""
    pages: list[float] = []
    alone: list[float] = []
    html = ""
    for _ in range(repeat):
        for which in (pages, alone):
            before()
            began = time.perf_counter()
            if which is pages:
                html = render()
            else:
                reads()
            which.append((time.perf_counter() - began) * 1000)
    return Page(_timing(pages), _timing(alone), len(html.encode()))


@dataclasses.dataclass
class Figures:
    """What one run measured."""

    routes: int
    rows: int
    incidents: int
    days: float
    fill_seconds: float
    pages: dict[str, Page]
    loop: LoopFigures


def _site(all_routes: list[Route], path: Path, clock: FakeClock) -> StatusSite:
    def open_ledger() -> StatusLedger:
        return Ledger.open_read_only(path)

    return StatusSite(all_routes, {vendor: vendor.title() for vendor in VENDORS}, open_ledger, clock, str)


def _pages(site: StatusSite, clock: FakeClock, all_routes: list[Route], repeat: int) -> dict[str, Page]:
    """Every page and its reads, on ``site``'s connection (opened on this thread)."""
    ledger = site._ledger_here()  # the page's own connection: the baseline reads through it too
    keys = [route.key for route in all_routes if route.vendor == VENDOR]
    municipality = all_routes[0].kommunenummer  # a route with an open incident (every 50th from the first)
    on_it = [route for route in all_routes if route.kommunenummer == municipality]

    def national_reads() -> None:
        ledger.latest_verdicts()
        ledger.incidents(open_only=True)

    def vendor_reads(counted: bool) -> Callable[[], None]:
        def reads() -> None:
            if counted:
                now = clock.now()
                for days in views.WINDOWS_DAYS:
                    ledger.verdict_counts(keys, now - days * DAY)
            ledger.latest_verdicts()
            ledger.newest_delivered()
            ledger.incidents()

        return reads

    def municipality_reads() -> None:
        for route in on_it:
            ledger.recent_canaries(route.channel, municipality, views.RECENT_CANARIES)
        ledger.incidents(municipality=municipality)

    vendor_path = f"/status/vendor/{VENDOR}"
    site.vendor_html(VENDOR, Language.NB, vendor_path)  # the counts kept, for the warm renders
    return {
        "national": measure(lambda: site.national_html("", Language.NB), national_reads, repeat),
        "vendor": measure(
            lambda: site.vendor_html(VENDOR, Language.NB, vendor_path),
            vendor_reads(counted=True),
            repeat,
            before=lambda: clock.advance(WINDOW_CACHE_SECONDS + 1),  # past the counts' cache: read again
        ),
        "vendor_warm": measure(
            lambda: site.vendor_html(VENDOR, Language.NB, vendor_path), vendor_reads(counted=False), repeat
        ),
        "municipality": measure(
            lambda: site.municipality_html(
                municipality, Language.NB, f"/status/municipality/{municipality}", {}
            ),
            municipality_reads,
            repeat,
        ),
    }


def run(days: float, repeat: int, lag_seconds: float) -> Figures:
    """Build the ledger with ``days`` of history once, measure every page ``repeat`` times and its reads
    as often, then the loop's lag for ``lag_seconds`` idle and as long rendering."""
    all_routes = routes()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "ledger.sqlite3"
        writer = Ledger(path)
        try:
            began = time.perf_counter()
            rows, incidents = fill(writer, all_routes, days, NOW)
            fill_seconds = time.perf_counter() - began
            clock = FakeClock(NOW)
            site = _site(all_routes, path, clock)
            try:
                pages = _pages(site, clock, all_routes, repeat)
            finally:
                site._close_ledger()
            lag_clock = FakeClock(NOW)
            loop = loop_lag(_site(all_routes, path, lag_clock), lag_clock, VENDOR, lag_seconds)
        finally:
            writer.close()
    return Figures(len(all_routes), rows, incidents, days, fill_seconds, pages, loop)


def as_json(figures: Figures) -> dict[str, Any]:
    """The figures as the benchmark's raw JSON (:func:`bench.report.summarise` reads it)."""
    return dataclasses.asdict(figures) | {
        "ratios": {name: page.ratio for name, page in figures.pages.items()}
    }


def _lag_line(name: str, lag: Lag) -> str:
    return f"loop lag, {name:<10} p99 {lag.p99:6.2f} ms, worst {lag.worst:6.2f} ms over {lag.wakes} wakes"


def main(argv: list[str] | None = None) -> None:
    """Print the figures of one run; ``--out`` writes them as JSON too."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.status_page",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--days", type=float, default=30.0, help="days of history (default 30)")
    parser.add_argument("--repeat", type=int, default=20, help="renders per page (default 20)")
    parser.add_argument("--lag-seconds", type=float, default=10.0, help="each loop-lag phase (default 10)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    arguments = parser.parse_args(argv)
    if arguments.days <= 0 or arguments.repeat < 1 or arguments.lag_seconds <= 0:
        parser.error("--days and --lag-seconds must be positive and --repeat at least 1")
    figures = run(arguments.days, arguments.repeat, arguments.lag_seconds)
    print(
        f"ledger: {figures.routes} routes, {figures.days:g} days, {figures.rows} canaries, "
        f"{figures.incidents} incidents, built in {figures.fill_seconds:.1f} s"
    )
    for name, page in figures.pages.items():
        print(
            f"{name:<13} {page.page.median:7.1f} ms median, {page.page.worst:7.1f} ms worst; reads alone "
            f"{page.reads.median:7.1f} ms, {page.reads.worst:7.1f} ms; page/reads {page.ratio:5.2f}x; "
            f"{page.size} bytes"
        )
    print(_lag_line("idle", figures.loop.idle))
    print(_lag_line("rendering", figures.loop.rendering) + f" ({figures.loop.renders} pages rendered)")
    if arguments.out is not None:
        arguments.out.write_text(json.dumps(as_json(figures), indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
