"""A ledger that cannot be written (its disk full): nothing is sent, the probe says it is not ready and
logs one line a minute, and once the ledger takes writes again what was seen meanwhile is written, due
canaries are sent, and nothing never sent is counted as sent."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probe.channels.base import Observation
from probe.errors import LedgerError
from probe.hops import Hop
from probe.ledger.store import LedgerStore
from probe.lifecycle.record import State
from tests.engine.kit import LABELS, PORTAL, START, FakeReadback, portal_adapter, probe
from tests.ledger_view import all_records

pytestmark = pytest.mark.anyio


@contextlib.contextmanager
def full_disk(ledger: LedgerStore) -> Iterator[None]:
    """Every write fails as SQLite fails on a full disk (``tests/ledger`` fills a real database to show
    the ledger raises exactly this), until the block ends."""
    real_save = ledger.save

    def save(*arguments: Any, **keywords: Any) -> None:
        raise LedgerError("ledger write failed: database or disk is full")

    ledger.save = save  # type: ignore[method-assign]
    try:
        yield
    finally:
        ledger.save = real_save  # type: ignore[method-assign]


def errors_logged(caplog: pytest.LogCaptureFixture) -> int:
    return len([r for r in caplog.records if r.name == "kanari.ledger" and r.levelno >= logging.ERROR])


async def test_a_full_ledger_stops_sending_and_after_it_nothing_is_stranded_or_miscounted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = portal_adapter()
    async with probe(tmp_path, FakeReadback(), portal=adapter) as running:
        running.engine.start()
        first = await running.until(lambda: bool(adapter.sent), last=START + 600)
        await running.at(first + 1)
        canary = running.only()
        ledger = running.engine.ledger
        with full_disk(ledger):
            # Through the next due send (one interval on) and a status check that sees a hop.
            adapter.check_answer = Observation({Hop.FORWARDED: first + 30}, None, "SENDT")
            await running.until(
                lambda: running.clock.now() >= first + PORTAL.interval + 30, last=START + 2000
            )
            assert len(adapter.sent) == 1  # the due canary was not sent
            assert not running.engine.canaries.writable
            assert running.value("kanari_ledger_writable") == 0
            # The one canary that was sent, and no intent of one that was not.
            assert list(running.engine.canaries.records.values()) == [canary]
            assert canary.state is not State.INTENT
            # Judged meanwhile (its deadline passed), and no never-sent intent pins the gauge.
            assert canary.verdict is not None
            assert running.value("kanari_in_flight", channel="portal") == 0
            # About 630 s of ticks, one line a minute at most.
            assert 1 <= errors_logged(caplog) <= 11
            assert Hop.FORWARDED in canary.hops  # seen, held until it can be written
            with pytest.raises(LedgerError):
                running.engine.send_now(PORTAL)
        await running.at(running.clock.now() + 1)
        assert running.engine.canaries.writable
        assert running.value("kanari_ledger_writable") == 1
        stored = {r.id: r for r in all_records(ledger)}
        assert set(stored) == {canary.id}  # no intent of a canary never sent
        # What was seen and decided meanwhile is written now.
        assert Hop.FORWARDED in stored[canary.id].hops
        assert (stored[canary.id].state, stored[canary.id].verdict) == (canary.state, canary.verdict)
        assert running.value("kanari_canaries_sent_total", **LABELS) == 1
        # Sending resumes at the route's next due time.
        await running.until(lambda: len(adapter.sent) == 2, last=first + 3 * PORTAL.interval)
        await running.at(running.clock.now() + 1)
        assert running.value("kanari_canaries_sent_total", **LABELS) == 2
    async with probe(tmp_path, FakeReadback(), portal=portal_adapter()) as restarted:
        restarted.engine.start()
        assert restarted.value("kanari_canaries_sent_total", **LABELS) == 2
