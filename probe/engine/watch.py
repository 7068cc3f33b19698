"""Watching canaries judged lost or unknown: they may still turn up, and a late arrival is counted.

A canary is looked at while it has no verdict, and afterwards only while it is lost or unknown, has not
turned up, and its watch window (``late_window``) lasts. The watch runs at a slower pace than the
canary's own polls, since nothing urgent depends on it.
"""

from __future__ import annotations

from probe.hops import Verdict
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.verdict import delivered_at

# Four polls' pace (at least a minute) is plenty for a late arrival and keeps the watch cheap during an
# outage.
WATCH_FACTOR = 4
MIN_WATCH_INTERVAL = 60.0
WATCHED = (Verdict.LOST, Verdict.UNKNOWN)


class Watch:
    """The rules of watching for late arrivals."""

    def __init__(self, late_window: float) -> None:
        self._late_window = late_window

    @staticmethod
    def looking(record: CanaryRecord) -> bool:
        """Whether checks still look at ``record``: it has no verdict, or it is watched."""
        if record.verdict is None:
            return True
        if record.verdict not in WATCHED or record.late_at is not None:
            return False
        return record.verdict_at is not None and delivered_at(record) is None

    @staticmethod
    def pace(poll_interval: float) -> float:
        """How often a watched canary is checked, for a route polled every ``poll_interval``."""
        return max(poll_interval * WATCH_FACTOR, MIN_WATCH_INTERVAL)

    def over(self, record: CanaryRecord, now: float) -> bool:
        """Whether a resolved canary no longer needs watching (its window passed, or nothing to watch)."""
        if record.verdict in WATCHED and record.late_at is None:
            watched_until = (record.verdict_at or now) + self._late_window
            return now >= watched_until or not self.looking(record)
        return True
