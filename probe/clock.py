"""Time as a dependency.

Everything time-driven in Kanari (deadlines, token expiry, hop latencies, the sandbox's simulated world)
reads the time from a :class:`Clock` it was given, so tests move time forward explicitly and assert
transitions at exact instants without sleeping. Times are Unix seconds as ``float`` internally; they become
``datetime`` only at the edges (wire formats, the ledger's human-readable columns).
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from typing import Protocol

UTC = dt.UTC


class Clock(Protocol):
    """A source of wall-clock time."""

    def now(self) -> float:
        """Current time in Unix seconds."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Current time in Unix seconds."""
        return time.time()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start

    def now(self) -> float:
        """Current fake time in Unix seconds."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds``; returns the new time."""
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        self._now += seconds
        return self._now

    def set(self, instant: float) -> None:
        """Move time forward to ``instant``."""
        self.advance(instant - self._now)


def to_datetime(instant: float) -> dt.datetime:
    """Unix seconds as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(instant, tz=UTC)


def to_rfc3339(instant: float) -> str:
    """Unix seconds as RFC 3339 in UTC with millisecond precision, e.g. ``2026-01-01T00:00:00.000Z``."""
    return to_datetime(instant).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> float:
    """RFC 3339 (with offset or ``Z``) to Unix seconds; raises ``ValueError`` on anything else."""
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone offset: {text!r}")
    return parsed.timestamp()


# Norwegian services (KS's report and status times, the texts of a canary) write local date-times
# without a zone, as Java's LocalDateTime does.
NORWAY = "Europe/Oslo"


def to_local_text(instant: float, zone: str = NORWAY, timespec: str = "seconds") -> str:
    """Unix seconds as a local date-time without zone in ``zone``, e.g. ``2020-03-16T13:29:33``."""
    local = to_datetime(instant).astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)
    return local.isoformat(timespec=timespec)


def parse_local_text(text: str, zone: str = NORWAY) -> float:
    """A local date-time without zone, read in ``zone``, to Unix seconds (an explicit offset wins);
    raises ``ValueError`` on anything else.

    In the autumn hour that occurs twice the earlier instant is taken (``fold=0``), so a time read back
    can be an hour early but never an hour late.
    """
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    return parsed.timestamp()
