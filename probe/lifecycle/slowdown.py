"""A party's slow day: when the canaries other routes deliver through a hop are all slower than usual,
a canary late at that hop is more likely slowed with them than lost.

KS, Digdir or a vendor is sometimes two to four times slower for a whole day. A route's learned bound
(:mod:`probe.lifecycle.bounds`) remembers only its own last few days, so on a party's first slow day a
canary in the slow tail passes it while still on its way: a false page, on many routes at once. The
routes that share the hop know better: each delivered canary tells how much slower than its route's
usual (median) latency it reached each machine hop, and the median of those ratios over the last
:data:`WINDOW`, among the routes of the same channel and among those of the same vendor, is the hop's
*slowdown*. A canary past its bound at a hop whose slowdown is at least :data:`SLOW` gets the bound times
the slowdown, never more than the configured deadline (:meth:`RouteBounds.stretched_due`).

Only delivered canaries count: an outage delivers nothing and so never stretches a deadline, and a
single broken route cannot move the median of its channel or vendor. People's hops (office time) are
left alone: their latency is the office's rhythm, not a machine's speed.
"""

from __future__ import annotations

import bisect
import collections
import statistics

from probe.hops import Channel, Hop

# How far back the delivered canaries speak for a hop's speed: long enough to hold a few of each
# vendor's canaries at the portal's 15-minute sends, short enough to end with the slow day.
WINDOW = 3600.0
# A median over fewer ratios than this says nothing.
MIN_RATIOS = 3
# Below this a hop is as fast as usual (the median ratio of a healthy hop scatters around 1).
SLOW = 1.5

Group = tuple[Channel, Hop, str]  # (channel, hop, vendor); vendor "" for the whole channel


class Slowdown:
    """Recent delivered latencies over their routes' usual, per (channel, hop) and per vendor."""

    def __init__(self) -> None:
        self._ratios: dict[Group, collections.deque[tuple[float, float]]] = {}

    def observe(self, channel: Channel, hop: Hop, vendor: str, ratio: float, at: float) -> None:
        """A canary delivered at ``at`` reached ``hop`` ``ratio`` times its route's usual latency."""
        for group in ((channel, hop, ""), (channel, hop, vendor)):
            ratios = self._ratios.setdefault(group, collections.deque())
            # Deliveries are judged in time order; one judged out of order is kept in place.
            if ratios and ratios[-1][0] > at:
                entries = list(ratios)
                bisect.insort(entries, (at, ratio))
                ratios.clear()
                ratios.extend(entries)
            else:
                ratios.append((at, ratio))
            self._expire(ratios, at)

    def factor(self, channel: Channel, hop: Hop, vendor: str, now: float) -> float:
        """How many times slower than usual ``hop`` is now on ``vendor``'s routes or the whole
        channel's (the larger); 1 when it is not slow (below :data:`SLOW`) or too little is known."""
        slowest = 1.0
        for group in ((channel, hop, ""), (channel, hop, vendor)):
            ratios = self._ratios.get(group)
            if not ratios:
                continue
            self._expire(ratios, now)
            if len(ratios) >= MIN_RATIOS:
                median = statistics.median(ratio for _, ratio in ratios)
                if median >= SLOW:
                    slowest = max(slowest, median)
        return slowest

    @staticmethod
    def _expire(ratios: collections.deque[tuple[float, float]], now: float) -> None:
        while ratios and ratios[0][0] < now - WINDOW:
            ratios.popleft()
