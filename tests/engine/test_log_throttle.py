"""The log throttle: the first line of a problem, then one line per interval saying how many more there
were, on an injected clock; a burst that stops is still summed up by ``flush``."""

from __future__ import annotations

import logging

import pytest

from probe.clock import FakeClock
from probe.engine.log_throttle import LogThrottle

log = logging.getLogger("kanari.test.throttle")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_first_then_one_summary_per_interval(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(log, clock.now, interval=60)
    with caplog.at_level(logging.WARNING, logger=log.name):
        logged = []
        for second in range(150):  # a failure every second for two and a half minutes
            logged.append(throttle.log(logging.WARNING, "portal:http_5xx", f"failed at {second}"))
            clock.advance(1)
    assert lines(caplog) == [
        "failed at 0",
        "failed at 60 (59 more like it in the last 60 s)",
        "failed at 120 (59 more like it in the last 60 s)",
    ]
    assert logged.count(True) == 3
    assert [r.repeats for r in caplog.records] == [0, 59, 59]  # type: ignore[attr-defined]


def test_each_key_has_its_own_interval(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(log, clock.now, interval=60)
    with caplog.at_level(logging.WARNING, logger=log.name):
        for key in ("portal:timeout", "readback:http_5xx", "portal:timeout"):
            throttle.log(logging.WARNING, key, key)
    assert lines(caplog) == ["portal:timeout", "readback:http_5xx"]


def test_flush_sums_up_a_burst_that_stopped(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(log, clock.now, interval=60)
    with caplog.at_level(logging.WARNING, logger=log.name):
        for number in range(5):
            throttle.log(logging.WARNING, "k", f"failed {number}", extra={"canary_id": f"c{number}"})
            clock.advance(1)
        assert throttle.flush() == 0  # the interval is not over
        clock.advance(55)
        assert throttle.flush() == 1
        assert throttle.flush() == 0  # nothing more held
        clock.advance(120)
        assert throttle.flush() == 0
    # The newest of the four held back, standing for three more.
    assert lines(caplog) == ["failed 0", "failed 4 (3 more like it in the last 60 s)"]
    summary = caplog.records[-1]
    assert (summary.canary_id, summary.repeats) == ("c4", 3)  # type: ignore[attr-defined]


def test_clear_forgets_and_counts_what_was_held(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(log, clock.now, interval=60)
    with caplog.at_level(logging.WARNING, logger=log.name):
        for _ in range(3):
            throttle.log(logging.WARNING, "k", "failed")
        assert throttle.clear("k") == 2
        assert throttle.flush() == 0
        throttle.log(logging.WARNING, "k", "failed again")
    assert lines(caplog) == ["failed", "failed again"]
