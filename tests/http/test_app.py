from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from probe.http.app import JWKS_PATH, create_app

pytestmark = pytest.mark.anyio

JWKS = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "kanari-1"}]}


def client(
    ready: Callable[[], Mapping[str, bool]] | None = None, basic_auth: tuple[str, str] | None = None
) -> httpx.AsyncClient:
    registry = CollectorRegistry()
    Counter("kanari_example", "An example.", registry=registry).inc()
    app = create_app(
        lambda: generate_latest(registry),
        ready or (lambda: {"scheduler": True, "ledger": True}),
        JWKS,
        basic_auth,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe")


async def test_health_readiness_keys_and_metrics() -> None:
    async with client() as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "conditions": {"scheduler": True, "ledger": True}}
        keys = await http.get(JWKS_PATH)
        assert keys.json() == JWKS
        metrics = await http.get("/metrics")
        assert "kanari_example_total 1.0" in metrics.text
        assert metrics.headers["content-type"].startswith("text/plain")


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
