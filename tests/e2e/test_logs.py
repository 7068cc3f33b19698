"""The log of a run with faults tells the story, in ``--log-format json``: every line parses, each verdict
other than delivered, late arrival and duplicate has its line with the route, hop, owner and the ids to
search for, a failing read-back is not a line per request, and no line holds a secret (httpx's debug
lines included)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.cli.logformat import STABLE_KEYS, JsonFormatter
from tests.e2e.harness import harness

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

BERGEN, OSLO, HAUGESUND = "4601", "0301", "1106"
VERDICT_KEYS = (
    "canary_id",
    "route",
    "channel",
    "municipality",
    "vendor",
    "verdict",
    "hop",
    "owner",
    "upstream_id",
)


@contextlib.contextmanager
def json_log() -> Iterator[io.StringIO]:
    """Every record of every logger, at DEBUG, as ``kanari --log-format json --log-level DEBUG`` writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore")}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def secrets_of(state_dir: Path) -> list[str]:
    """The credentials the probe holds: the Fiks password, the read-back tokens, and every line of its
    private keys (Maskinporten client, marker signing)."""
    values = [(state_dir / "fiks-integrasjon-passord").read_text().strip()]
    values += [path.read_text().strip() for path in sorted(state_dir.glob("readback-*.token"))]
    for name in (
        "maskinporten-client.key.pem",
        "maskinporten-recipient.key.pem",
        "kanari-marker-ed25519.pem",
    ):
        text = (state_dir / name).read_text()
        values += [line for line in text.splitlines() if line and not line.startswith("-----")]
    return values


async def test_a_json_log_tells_the_story_without_a_secret(tmp_path: Path) -> None:
    with json_log() as stream:
        async with harness(tmp_path, f"{BERGEN},{OSLO},{HAUGESUND}") as probe:
            await probe.fault("vendor.slow", BERGEN)  # lost, then a late arrival
            await probe.fault("vendor.duplicate", OSLO)
            await probe.fault("vendor.readback_down", HAUGESUND)  # a failing upstream
            await probe.run_for(60)
            await probe.clear_faults()
            await probe.run_for(300)
            late = [r for r in probe.records() if r.late_at is not None]
            duplicates = [r for r in probe.records() if r.duplicate]
            undelivered = [
                r for r in probe.records() if r.verdict is not None and r.verdict.value != "delivered"
            ]
            readback_failures = probe.value(
                "kanari_check_failures_total", channel="portal", target="readback", reason="http_5xx"
            )
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]  # every line parses
    assert lines
    assert all(list(line)[:4] == list(STABLE_KEYS) for line in lines)

    verdicts = [line for line in lines if line.get("event") == "verdict"]
    assert late, "no late arrival"
    assert duplicates, "no duplicate"
    assert undelivered, "no verdict other than delivered"
    assert sorted(line["canary_id"] for line in verdicts) == sorted(r.id for r in undelivered)
    for line in verdicts:
        assert set(VERDICT_KEYS) <= set(line)
        assert line["verdict"] in {"lost", "failed", "unknown"}
        assert line["route"] == f"{line['channel']}/{line['municipality']}"
        if line["verdict"] == "lost":
            assert line["hop"] is not None
            assert line["owner"] is not None
    assert {line["canary_id"] for line in lines if line.get("event") == "late_arrival"} == {
        r.id for r in late
    }
    assert {line["canary_id"] for line in lines if line.get("event") == "duplicate"} == {
        r.id for r in duplicates
    }

    # The read-back failed on every poll of Haugesund for a minute: not a line each.
    failures = [
        line for line in lines if line.get("event") == "upstream_failure" and line["target"] == "readback"
    ]
    assert readback_failures > len(failures) >= 1
    assert sum(line["repeats"] + 1 for line in failures) <= readback_failures

    secrets = secrets_of(tmp_path / "sandbox")
    assert secrets, "no secret found to look for"
    for secret in secrets:
        assert secret not in text, "a secret value appears in the log"
    assert "eyJ" not in text  # no access token or grant assertion (JWTs)
    assert "KANARI1." not in text  # nor a marker
