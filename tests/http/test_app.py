"""The probe's HTTP surface: health, readiness, keys, and ``/metrics`` behind optional basic auth, as
text or as gzip when the scraper accepts it, whether the exposition is cached or only a render function."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Mapping

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from probe.http.app import JWKS_PATH, Exposition, create_app
from probe.metrics.exposition import Exposition as CachedExposition
from probe.metrics.exposition import Family, RouteSeries

pytestmark = pytest.mark.anyio

JWKS = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "kanari-1"}]}
PLAIN = {"Accept-Encoding": "identity"}
# What Prometheus sends.
GZIP = {"Accept-Encoding": "gzip"}


def rendered() -> Callable[[], bytes]:
    """An exposition known only as the function that renders it."""
    registry = CollectorRegistry()
    Counter("kanari_example", "An example.", registry=registry).inc()
    return lambda: generate_latest(registry)


def cached() -> CachedExposition:
    """The probe's own kind: an ordinary counter and a per-route collector, gzip kept between changes."""
    registry = CollectorRegistry()
    Counter("kanari_example", "An example.", registry=registry).inc()
    series = RouteSeries(
        {"sent": Family("kanari_sent", "counter", "Sends.", "route")}, {"route": ("channel",)}
    )
    registry.register(series)
    series.add("portal", {"route": ("portal",)}, [("sent", (), 3.0)])
    return CachedExposition(registry, series)


SOURCES = [pytest.param(rendered, id="rendered"), pytest.param(cached, id="cached")]


def without_render_times(text: bytes) -> list[bytes]:
    """The text's lines but the render times, which every render changes."""
    return [line for line in text.splitlines() if b"kanari_metrics_render_seconds" not in line]


def client(
    ready: Callable[[], Mapping[str, bool]] | None = None,
    basic_auth: tuple[str, str] | None = None,
    exposition: Exposition | Callable[[], bytes] | None = None,
    started: Callable[[], bool] | None = None,
) -> httpx.AsyncClient:
    app = create_app(
        exposition or rendered(),
        ready or (lambda: {"scheduler": True, "ledger": True}),
        JWKS,
        basic_auth,
        started=started,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe")


async def raw(
    http: httpx.AsyncClient, method: str, headers: Mapping[str, str]
) -> tuple[httpx.Response, bytes]:
    """``/metrics`` and its body as sent, not decoded by httpx (which would hide the gzip)."""
    async with http.stream(method, "/metrics", headers=headers, auth=("prometheus", "s3cret")) as answer:
        return answer, b"".join([chunk async for chunk in answer.aiter_raw()])


class Counting:
    """An exposition that counts what the app asks of it."""

    def __init__(self, inner: Exposition) -> None:
        self.inner = inner
        self.asked: list[str] = []

    def text(self) -> bytes:
        self.asked.append("text")
        return self.inner.text()

    async def gzip(self) -> bytes:
        self.asked.append("gzip")
        return await self.inner.gzip()


async def test_health_readiness_keys_and_metrics() -> None:
    async with client() as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "ready": True,
            "role": "leader",
            "conditions": {"scheduler": True, "ledger": True},
        }
        keys = await http.get(JWKS_PATH)
        assert keys.json() == JWKS
        metrics = await http.get("/metrics")
        assert "kanari_example_total 1.0" in metrics.text
        assert metrics.headers["content-type"].startswith("text/plain")


async def test_while_the_engine_resumes_metrics_wait_and_health_answers() -> None:
    started = [False]
    async with client(ready=lambda: {"scheduler": False}, started=lambda: started[0]) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 503
        waiting = await http.get("/metrics", headers={"Accept-Encoding": "gzip"})
        assert waiting.status_code == 503
        assert "starting" in waiting.text
        started[0] = True
        assert "kanari_example_total 1.0" in (await http.get("/metrics")).text


async def test_not_ready_names_the_failing_condition() -> None:
    async with client(ready=lambda: {"scheduler": False, "ledger": True}) as http:
        answer = await http.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["conditions"]["scheduler"] is False


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        (None, 401),
        (("prometheus", "wrong"), 401),
        (("other", "s3cret"), 401),
        (("prometheus", "s3cret"), 200),
    ],
)
async def test_metrics_basic_auth(auth: tuple[str, str] | None, status: int) -> None:
    async with client(basic_auth=("prometheus", "s3cret")) as http:
        answer = await http.get("/metrics", auth=auth)
        assert answer.status_code == status
        if status == 401:
            assert answer.headers["www-authenticate"] == 'Basic realm="kanari"'
            assert "s3cret" not in answer.text
        # Health and keys stay open: orchestrators and vendors need them without credentials.
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get(JWKS_PATH)).status_code == 200


async def test_garbled_authorization_headers_are_refused() -> None:
    async with client(basic_auth=("prometheus", "s3cret")) as http:
        for header in ("Basic !!!", "Basic " + "w6bDuA==", "Bearer token", "Basic"):
            assert (await http.get("/metrics", headers={"Authorization": header})).status_code == 401


@pytest.mark.parametrize("source", SOURCES)
async def test_metrics_are_plain_text_unless_gzip_is_accepted(
    source: Callable[[], Exposition | Callable[[], bytes]],
) -> None:
    exposition = source()
    async with client(exposition=exposition) as http:
        for accept in (PLAIN, {"Accept-Encoding": ""}, {"Accept-Encoding": "br, zstd"}):
            answer, body = await raw(http, "GET", accept)
            assert answer.status_code == 200
            assert "content-encoding" not in answer.headers
            assert answer.headers["vary"] == "Accept-Encoding"
            assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
            assert b"kanari_example_total 1.0" in body


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("accept", ["gzip", "GZIP", "deflate, gzip;q=0.8, br", "gzip, deflate"])
async def test_metrics_are_gzip_when_accepted(
    source: Callable[[], Exposition | Callable[[], bytes]], accept: str
) -> None:
    async with client(basic_auth=("prometheus", "s3cret"), exposition=source()) as http:
        compressed, body = await raw(http, "GET", {"Accept-Encoding": accept})
        _, plain = await raw(http, "GET", PLAIN)
    assert compressed.status_code == 200
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.headers["vary"] == "Accept-Encoding"
    assert compressed.headers["content-type"] == CONTENT_TYPE_LATEST
    assert int(compressed.headers["content-length"]) == len(body)
    # The same exposition; only the render times, which every render changes, may differ.
    assert without_render_times(gzip.decompress(body)) == without_render_times(plain)


async def test_the_kept_gzip_is_served_and_the_text_not_rendered_for_it() -> None:
    exposition = Counting(cached())
    async with client(basic_auth=("prometheus", "s3cret"), exposition=exposition) as http:
        _, first = await raw(http, "GET", GZIP)
        _, second = await raw(http, "GET", GZIP)
    assert exposition.asked == ["gzip", "gzip"]
    # Exactly the body the exposition keeps (compressed once: tests/metrics/test_exposition.py).
    assert first == second == await exposition.inner.gzip()


@pytest.mark.parametrize("source", SOURCES)
async def test_gzip_is_no_way_around_basic_auth(
    source: Callable[[], Exposition | Callable[[], bytes]],
) -> None:
    async with client(basic_auth=("prometheus", "s3cret"), exposition=source()) as http:
        for auth in (None, ("prometheus", "wrong")):
            answer = await http.get("/metrics", headers=GZIP, auth=auth)
            assert answer.status_code == 401
            assert "content-encoding" not in answer.headers
            assert answer.headers["www-authenticate"] == 'Basic realm="kanari"'
            assert b"kanari_example" not in answer.content


@pytest.mark.parametrize("source", SOURCES)
async def test_head_answers_the_headers_of_get_and_other_methods_are_refused(
    source: Callable[[], Exposition | Callable[[], bytes]],
) -> None:
    async with client(basic_auth=("prometheus", "s3cret"), exposition=source()) as http:
        for accept in (GZIP, PLAIN):
            got, _ = await raw(http, "GET", accept)
            head, body = await raw(http, "HEAD", accept)
            assert head.status_code == 200
            assert body == b""
            for name in ("content-type", "vary"):
                assert head.headers[name] == got.headers[name]
            assert head.headers.get("content-encoding") == got.headers.get("content-encoding")
        assert (await http.head("/metrics")).status_code == 401
        for method in ("POST", "PUT", "DELETE"):
            answer = await http.request(method, "/metrics", auth=("prometheus", "s3cret"))
            assert answer.status_code == 405
