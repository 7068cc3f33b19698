"""Property-based tests of every parser of upstream answers: arbitrary or mutated input gives a clean
``invalid_response`` (or a valid reading), never any other exception."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.channels.altinn import parse_details
from probe.channels.ks_directory import parse_bydeler, parse_keys
from probe.channels.portal import parse_status_history
from probe.checks.readback import parse_registration
from probe.clock import FakeClock
from probe.errors import InvalidResponseError, Reason, UpstreamError
from probe.transport.upstream import Upstream
from tests.conftest import examples

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)

PORTAL_HISTORY = [
    {
        "bekymringsmeldingId": "a",
        "tidspunkt": "2026-03-02T10:00:00",
        "tilstand": "AKSEPTERT",
        "beskrivelse": "x",
    },
    {
        "bekymringsmeldingId": "a",
        "tidspunkt": "2026-03-02T10:00:05",
        "tilstand": "LEVERT",
        "beskrivelse": "y",
    },
]
ALTINN_DETAILS = {
    "status": "Fetched",
    "statusHistory": [
        {"status": "Published", "statusText": "p", "statusChanged": "2026-03-02T10:00:00+01:00"},
        {"status": "Fetched", "statusText": "f", "statusChanged": "2026-03-02T10:05:00+01:00"},
    ],
}
REGISTRATION = {
    "canaryId": "c",
    "marker": "KANARI1.a.b",
    "channel": "portal",
    "registeredAt": "2026-03-02T10:00:00Z",
}
BYDELER = [{"bydelsnummer": "00", "bydelsnavn": "Bergen", "standardMottaker": True}]
KEYS = {"printOffentligNokkel": {"nokkel": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
        "fiksIOOffentligNokkel": {"nokkel": "x"}}  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, valid: object) -> object:
    """``valid`` with one value somewhere replaced by arbitrary JSON, or a key removed."""
    document = json.loads(json.dumps(valid))
    path: list[object] = []
    node = document
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(st.sampled_from(list(node.keys()) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        node = node[key]
    if not path:
        return draw(json_values)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return document


PARSERS = [
    (parse_status_history, PORTAL_HISTORY),
    (parse_details, ALTINN_DETAILS),
    (parse_registration, REGISTRATION),
    (parse_bydeler, BYDELER),
    (lambda answer: parse_keys(answer, 0.0), KEYS),
]


@pytest.mark.parametrize(("parser", "valid"), PARSERS)
@given(data=st.data())
@settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_parsers_give_a_reading_or_invalid_response(
    parser: Callable[[Any], object], valid: object, data: st.DataObject
) -> None:
    answer = data.draw(st.one_of(json_values, mutated(valid)))
    try:
        parser(answer)
    except InvalidResponseError as error:
        assert error.reason is Reason.INVALID_RESPONSE


@given(body=st.binary(max_size=200) | json_values.map(lambda value: json.dumps(value).encode()))
@settings(max_examples=examples(100), deadline=None)
def test_upstream_bodies_of_any_shape_never_escape_as_other_errors(body: bytes) -> None:
    async def call() -> None:
        with respx.mock:
            respx.get("https://upstream.test/x").respond(200, content=body)
            async with httpx.AsyncClient() as client:
                upstream = Upstream(
                    "portal", client, FakeClock(), concurrency=1, timeout=1, max_response_bytes=150
                )
                try:
                    await upstream.json("GET", "https://upstream.test/x", backoff_key="k")
                except UpstreamError as error:
                    assert error.reason is Reason.INVALID_RESPONSE

    asyncio.run(call())
