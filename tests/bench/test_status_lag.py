"""The loop-lag measurement fails loudly when the page it renders does not answer 200 (a benchmark that
timed error pages would flatter the page)."""

from __future__ import annotations

import pytest

from bench.status_lag import loop_lag
from probe.clock import FakeClock
from probe.errors import LedgerError
from probe.http.status.site import StatusLedger, StatusSite
from tests.http.status.fakes import NOW, ROUTES, VENDORS, broken_bergen


def test_a_page_that_does_not_answer_200_stops_the_measurement() -> None:
    def unreadable() -> StatusLedger:
        raise LedgerError("ledger read failed: disk I/O error")

    clock = FakeClock(NOW)
    site = StatusSite(ROUTES, VENDORS, unreadable, clock, str)
    with pytest.raises(RuntimeError, match=r"/status answered 503"):
        loop_lag(site, clock, "nordlys", 0.05)


def test_a_readable_site_gives_both_phases() -> None:
    clock = FakeClock(NOW)
    site = StatusSite(ROUTES, VENDORS, broken_bergen, clock, str)
    figures = loop_lag(site, clock, "nordlys", 0.05)
    assert figures.idle.wakes > 0
    assert figures.rendering.wakes > 0
    assert figures.renders >= 2
    assert figures.idle.p99 <= figures.idle.worst
