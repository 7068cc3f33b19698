"""Serving the status page: ``/status`` (public), ``/status/vendor/{id}`` and
``/status/municipality/{kommunenummer}`` (restricted, behind the same basic auth as ``/metrics``).

Rendering never blocks probing: each page is read from the ledger and rendered on one worker thread of
its own, through a read-only connection of its own (:class:`StatusLedger`, opened there on first use),
so the engine's event loop and its connection are never touched; the loop only hands the request over
and awaits the answer. A rendered page is kept for ``cache_seconds``, so a room of operators reloading
the national page costs one render per few seconds, whatever the number of viewers. A ledger that
cannot be read gives a 503 page (and a new connection on the next try), never a stack trace.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from probe.clock import Clock
from probe.config.routes import Route as ProbeRoute
from probe.errors import KanariError
from probe.hops import Channel, Verdict
from probe.http.auth import authorised, challenge
from probe.http.status import views
from probe.http.status.page import Renderer
from probe.http.status.texts import Language, language
from probe.lifecycle.incident import Incident
from probe.lifecycle.record import CanaryRecord

log = logging.getLogger("kanari.status")

# Long enough that reloads and many viewers share one render; short next to any poll interval, so the
# page is never staler than the probe's own view by more than a few seconds.
CACHE_SECONDS = 5.0
# A vendor's 7- and 30-day counts read every canary of its routes in the window (about a second for a
# vendor with a third of 714 routes at the example timing): they move by a canary or two a minute, so
# they are kept a minute while the rest of its page follows the ledger every few seconds.
WINDOW_CACHE_SECONDS = 60.0
DAY = 86400.0
# Never cached by a browser or proxy: the restricted views must not be kept where another user reads them.
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class StatusLedger(Protocol):
    """What the status page reads from the ledger (:class:`probe.ledger.store.LedgerStore` has it)."""

    def latest_verdicts(self) -> dict[tuple[Channel, str], Verdict]:
        """Each route's newest verdict."""

    def newest_delivered(self) -> list[CanaryRecord]:
        """The newest delivered canary of each route."""

    def recent_canaries(self, channel: Channel, municipality: str, limit: int) -> list[CanaryRecord]:
        """A route's newest ``limit`` canaries, newest first."""

    def verdict_counts(
        self, routes: Sequence[tuple[Channel, str]], since: float
    ) -> dict[tuple[Channel, str], dict[Verdict, int]]:
        """Per route: canaries created since ``since`` by verdict."""

    def incidents(
        self, *, open_only: bool = False, channel: Channel | None = None, municipality: str | None = None
    ) -> list[Incident]:
        """Incidents, newest first."""

    def close(self) -> None:
        """Close the connection."""


def _no_deadlines() -> views.Deadlines:
    return {}


class StatusSite:
    """The status page's routes, reads and cache.

    ``open_ledger`` opens a read-only ledger connection (called on the page's worker thread);
    ``vendors`` names each vendor id; ``runbook_url`` turns an alert name into its runbook link;
    ``deadlines`` returns the learned deadlines (called on the event loop, so it may read the engine's
    state; empty until the probe learns them).
    """

    def __init__(
        self,
        routes: Sequence[ProbeRoute],
        vendors: Mapping[str, str],
        open_ledger: Callable[[], StatusLedger],
        clock: Clock,
        runbook_url: Callable[[str], str],
        *,
        basic_auth: tuple[str, str] | None = None,
        deadlines: Callable[[], views.Deadlines] = _no_deadlines,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.routes = tuple(routes)
        self.vendors = dict(vendors)
        self._open_ledger = open_ledger
        self._ledger: StatusLedger | None = None
        self._clock = clock
        self._runbook_url = runbook_url
        self._basic_auth = basic_auth
        self._deadlines = deadlines
        self._cache_seconds = cache_seconds
        # (view, key, language) -> (fresh until, page): bounded by the configuration (a page per vendor
        # and municipality per language at most), so never evicted.
        self._cache: dict[tuple[str, str, Language], tuple[float, str]] = {}
        self._windows: dict[str, tuple[float, dict[int, views.VerdictCounts]]] = {}
        self._renderer = Renderer()
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kanari-status")
        self._municipalities = {route.kommunenummer for route in self.routes}
        # How many pages were rendered (not served from the cache): tests and the benchmark read it.
        self.renders = 0

    def http_routes(self) -> list[BaseRoute]:
        """The routes to mount on the probe's app."""
        return [
            Route("/status", self._national),
            Route("/status/vendor/{vendor}", self._vendor),
            Route("/status/municipality/{kommunenummer}", self._municipality),
        ]

    async def close(self) -> None:
        """Stop the worker thread and close its ledger connection."""
        await asyncio.get_running_loop().run_in_executor(self._worker, self._close_ledger)
        self._worker.shutdown(wait=True)

    def _close_ledger(self) -> None:
        if self._ledger is not None:
            with contextlib.suppress(KanariError):
                self._ledger.close()
            self._ledger = None

    def _ledger_here(self) -> StatusLedger:
        """The worker's ledger connection, opened on first use (on the worker thread)."""
        if self._ledger is None:
            self._ledger = self._open_ledger()
        return self._ledger

    async def _national(self, request: Request) -> Response:
        return await self._page(request, "national", "", self.national_html)

    async def _vendor(self, request: Request) -> Response:
        if self._basic_auth is not None and not authorised(request, self._basic_auth):
            return challenge()
        vendor = request.path_params["vendor"]
        if vendor not in self.vendors:
            return self._not_found(request, "not_found_vendor")
        return await self._page(request, "vendor", vendor, self.vendor_html)

    async def _municipality(self, request: Request) -> Response:
        if self._basic_auth is not None and not authorised(request, self._basic_auth):
            return challenge()
        kommunenummer = request.path_params["kommunenummer"]
        if kommunenummer not in self._municipalities:
            return self._not_found(request, "not_found_municipality")
        deadlines = dict(self._deadlines())
        return await self._page(
            request,
            "municipality",
            kommunenummer,
            lambda key, lang, path: self.municipality_html(key, lang, path, deadlines),
        )

    def _not_found(self, request: Request, body: str) -> Response:
        lang = language(request.query_params.get("lang"))
        html = self._renderer.message(lang, request.url.path, "not_found", body)
        return HTMLResponse(html, status_code=404, headers=_HEADERS)

    async def _page(
        self, request: Request, kind: str, key: str, render: Callable[[str, Language, str], str]
    ) -> Response:
        lang = language(request.query_params.get("lang"))
        path = request.url.path
        loop = asyncio.get_running_loop()
        try:
            html = await loop.run_in_executor(self._worker, self._cached, kind, key, lang, path, render)
        except KanariError as error:
            # The ledger could not be read (LedgerError is a KanariError): a fresh connection next time.
            log.warning("status page %s unavailable: %s", path, error)
            await loop.run_in_executor(self._worker, self._close_ledger)
            html = self._renderer.message(lang, path, "unavailable", "unavailable_help")
            return HTMLResponse(html, status_code=503, headers={**_HEADERS, "Retry-After": "5"})
        return HTMLResponse(html, headers=_HEADERS)

    def _cached(
        self, kind: str, key: str, lang: Language, path: str, render: Callable[[str, Language, str], str]
    ) -> str:
        """On the worker: the page from the cache while it is fresh, else rendered now."""
        now = self._clock.now()
        hit = self._cache.get((kind, key, lang))
        if hit is not None and hit[0] > now:
            return hit[1]
        html = render(key, lang, path)
        self.renders += 1
        self._cache[(kind, key, lang)] = (now + self._cache_seconds, html)
        return html

    def national_html(self, _key: str, lang: Language, path: str = "/status") -> str:
        """The national page, read and rendered now (on the calling thread)."""
        ledger = self._ledger_here()
        view = views.national_view(
            self.routes, ledger.latest_verdicts(), ledger.incidents(open_only=True), self._clock.now()
        )
        return self._renderer.national(view, lang, path)

    def vendor_html(self, vendor: str, lang: Language, path: str) -> str:
        """A vendor's page, read and rendered now (on the calling thread)."""
        ledger = self._ledger_here()
        now = self._clock.now()
        kept = self._windows.get(vendor)
        if kept is not None and kept[0] > now:
            counts = kept[1]
        else:
            keys = [route.key for route in self.routes if route.vendor == vendor]
            counts = {days: ledger.verdict_counts(keys, now - days * DAY) for days in views.WINDOWS_DAYS}
            self._windows[vendor] = (now + WINDOW_CACHE_SECONDS, counts)
        view = views.vendor_view(
            vendor,
            self.vendors[vendor],
            self.routes,
            verdicts=ledger.latest_verdicts(),
            delivered=ledger.newest_delivered(),
            counts=counts,
            incidents=ledger.incidents(),
            taken_at=now,
        )
        return self._renderer.vendor(view, lang, path)

    def municipality_html(
        self, kommunenummer: str, lang: Language, path: str, deadlines: views.Deadlines
    ) -> str:
        """A municipality's page, read and rendered now (on the calling thread)."""
        ledger = self._ledger_here()
        recent = {
            route.key: ledger.recent_canaries(route.channel, kommunenummer, views.RECENT_CANARIES)
            for route in self.routes
            if route.kommunenummer == kommunenummer
        }
        view = views.municipality_view(
            kommunenummer,
            self.routes,
            recent=recent,
            incidents=ledger.incidents(municipality=kommunenummer),
            taken_at=self._clock.now(),
            deadlines=deadlines,
        )
        assert view is not None  # the route exists: checked before the page was asked for
        return self._renderer.municipality(view, lang, path, self._runbook_url, self.vendors)
