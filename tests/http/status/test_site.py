"""The status page served: public national view, restricted views behind basic auth, 404s, a ledger
that cannot be read (503, then a fresh connection), the cache, and nothing secret on any page."""

from __future__ import annotations

import base64
import threading
from collections.abc import AsyncIterator

import httpx
import pytest

from probe.clock import FakeClock
from probe.hops import Channel, Hop
from probe.http.app import create_app
from probe.http.status.site import StatusLedger, StatusSite
from tests.http.status.fakes import NOW, ROUTES, VENDORS, FakeLedger, broken_bergen

pytestmark = pytest.mark.anyio

AUTH = ("kanari", "s3cret-password")
GOOD = {"Authorization": "Basic " + base64.b64encode(b"kanari:s3cret-password").decode()}
WRONG = {"Authorization": "Basic " + base64.b64encode(b"kanari:guess").decode()}


class Opened:
    """Opens the fake ledger and remembers on which thread."""

    def __init__(self, ledger: FakeLedger) -> None:
        self.ledger = ledger
        self.threads: list[str] = []

    def __call__(self) -> StatusLedger:
        self.threads.append(threading.current_thread().name)
        return self.ledger


def site(ledger: FakeLedger, clock: FakeClock, opened: Opened | None = None) -> StatusSite:
    return StatusSite(
        ROUTES,
        VENDORS,
        opened or Opened(ledger),
        clock,
        lambda alert: f"https://runbooks.example/runbooks.md#{alert}",
        basic_auth=AUTH,
        deadlines=lambda: {(Channel.PORTAL, "4601"): {Hop.REGISTERED: 240.0}},
    )


Served = tuple[httpx.AsyncClient, StatusSite, FakeLedger, FakeClock]


@pytest.fixture
async def client_and_site() -> AsyncIterator[Served]:
    ledger = broken_bergen()
    clock = FakeClock(NOW)
    status = site(ledger, clock)
    app = create_app(lambda: b"", lambda: {"ok": True}, {"keys": []}, AUTH, status=status)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        yield client, status, ledger, clock
    await status.close()


async def test_the_national_view_is_public_and_in_bokmal_by_default(client_and_site: Served) -> None:
    client, _, _, _ = client_and_site
    response = await client.get("/status")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert '<html lang="nb">' in response.text
    assert "Andel ruter som leverer" in response.text
    assert 'data-municipality="4601" data-state="broken"' in response.text
    english = await client.get("/status", params={"lang": "en"})
    assert '<html lang="en">' in english.text
    assert "Share of routes delivering" in english.text
    # An unknown language is the default one.
    assert '<html lang="nb">' in (await client.get("/status", params={"lang": "xx"})).text


async def test_the_index_lists_the_status_page_first(client_and_site: Served) -> None:
    client, _, _, _ = client_and_site
    assert (await client.get("/")).text.splitlines()[1] == "/status"


@pytest.mark.parametrize("path", ["/status/vendor/nordlys", "/status/municipality/4601"])
async def test_restricted_views_refuse_without_or_with_wrong_credentials(
    client_and_site: Served, path: str
) -> None:
    client, _, ledger, _ = client_and_site
    for headers in ({}, WRONG, {"Authorization": "Bearer token"}, {"Authorization": "Basic !!!"}):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="kanari"'
        assert "Bergen" not in response.text
    assert ledger.reads == 0
    assert (await client.get(path, headers=GOOD)).status_code == 200


async def test_the_vendor_view_shows_its_routes_and_incidents(client_and_site: Served) -> None:
    client, _, _, _ = client_and_site
    response = await client.get("/status/vendor/nordlys", headers=GOOD, params={"lang": "en"})
    assert response.status_code == 200
    assert "Nordlys Fagsystem AS" in response.text
    assert 'data-route="portal/4601" data-state="broken"' in response.text
    assert 'data-route="portal/1146" data-state="pending"' in response.text
    assert 'data-figure="share-7">64.3 %' in response.text
    assert "0301" not in response.text


async def test_the_municipality_view_shows_timelines_learned_deadline_exposure_and_runbook(
    client_and_site: Served,
) -> None:
    client, _, _, _ = client_and_site
    response = await client.get("/status/municipality/4601", headers=GOOD)
    assert response.status_code == 200
    text = response.text
    assert 'data-channel="portal" data-state="broken"' in text
    assert 'data-channel="altinn" data-state="delivering"' in text
    assert text.count("<svg") == 2
    assert "registrert i fagsystem: 4 min" in text
    assert "KS oppbevarer meldingene til" in text
    assert 'href="https://runbooks.example/runbooks.md#KanariReceiptWithoutRecord"' in text
    assert "00000000-0000-4000-8000-" in text  # canary ids: what a vendor searches for


async def test_unknown_vendor_and_municipality_are_404(client_and_site: Served) -> None:
    client, _, _, _ = client_and_site
    assert (await client.get("/status/vendor/nobody", headers=GOOD)).status_code == 404
    response = await client.get("/status/municipality/9999", headers=GOOD, params={"lang": "en"})
    assert response.status_code == 404
    assert "No route to this municipality is configured." in response.text


async def test_no_page_carries_a_marker_diagnostics_or_a_secret(client_and_site: Served) -> None:
    client, _, _, _ = client_and_site
    for path in ("/status", "/status/vendor/nordlys", "/status/vendor/fjordsys", "/status/municipality/4601"):
        for lang in ("nb", "en"):
            text = (await client.get(path, headers=GOOD, params={"lang": lang})).text
            for secret in ("KANARI1.", "secret-marker", "upstream said", AUTH[1], "999999999"):
                assert secret not in text, (path, secret)


async def test_a_page_is_rendered_on_the_worker_and_kept_for_a_few_seconds(client_and_site: Served) -> None:
    client, status, _, clock = client_and_site
    first = await client.get("/status")
    assert status.renders == 1
    assert (await client.get("/status")).text == first.text
    assert status.renders == 1
    clock.advance(5.0)
    await client.get("/status")
    assert status.renders == 2
    # Each language is its own page.
    await client.get("/status", params={"lang": "en"})
    assert status.renders == 3


async def test_the_ledger_is_opened_once_on_the_worker_thread() -> None:
    ledger = broken_bergen()
    opened = Opened(ledger)
    status = site(ledger, FakeClock(NOW), opened)
    app = create_app(lambda: b"", lambda: {"ok": True}, {"keys": []}, AUTH, status=status)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client:
        await client.get("/status")
        await client.get("/status/municipality/4601", headers=GOOD)
    await status.close()
    assert len(opened.threads) == 1
    assert opened.threads[0].startswith("kanari-status")
    assert opened.threads[0] != threading.current_thread().name
    assert ledger.closed == 1


async def test_an_unreadable_ledger_is_a_503_page_and_a_fresh_connection_next_time(
    client_and_site: Served,
) -> None:
    client, _, ledger, clock = client_and_site
    ledger.fail = True
    response = await client.get("/status")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "midlertidig utilgjengelig" in response.text
    assert "disk I/O" not in response.text
    assert ledger.closed == 1
    ledger.fail = False
    clock.advance(10)
    assert (await client.get("/status")).status_code == 200


async def test_without_basic_auth_configured_the_restricted_views_are_as_open_as_metrics() -> None:
    ledger = broken_bergen()
    status = StatusSite(ROUTES, VENDORS, Opened(ledger), FakeClock(NOW), lambda alert: alert)
    app = create_app(lambda: b"", lambda: {"ok": True}, {"keys": []}, None, status=status)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client:
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/status/vendor/nordlys")).status_code == 200
    await status.close()


async def test_a_vendors_window_counts_are_kept_a_minute_while_its_states_follow_the_ledger(
    client_and_site: Served,
) -> None:
    client, _, ledger, clock = client_and_site
    await client.get("/status/vendor/nordlys", headers=GOOD)
    counted = ledger.window_reads
    clock.advance(10)
    await client.get("/status/vendor/nordlys", headers=GOOD)
    assert ledger.window_reads == counted  # page rendered again, counts kept
    clock.advance(60)
    await client.get("/status/vendor/nordlys", headers=GOOD)
    assert ledger.window_reads == 2 * counted
