"""When each route sends its next canary.

Routes are spread evenly over their interval (route *i* of *n* starts at ``(i + jitter) / n`` of it) so
714 — or 20 000 — routes never fire at once, and each then repeats every interval. The jitter is a
per-route random fraction of one slot, not a random delay per send: random delays per send would
lengthen the mean interval and bunch routes up over time, staggered start times keep the spacing.
After a restart a route resumes one interval after its newest canary in the ledger; routes that are
overdue are spread again over one interval instead of all firing at the first tick.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping

from probe.config.routes import Route
from probe.hops import Channel


class RouteSchedule:
    """Due times of every route's next send."""

    def __init__(
        self,
        routes: Iterable[Route] = (),
        now: float = 0.0,
        last_sent: Mapping[tuple[Channel, str], float] | None = None,
        seed: int = 0,
    ) -> None:
        self._routes: dict[tuple[Channel, str], Route] = {}
        self._due: dict[tuple[Channel, str], float] = {}
        self._heap: list[tuple[float, tuple[Channel, str]]] = []
        self._seed = seed
        self.plan(routes, now, last_sent or {})

    def plan(
        self, routes: Iterable[Route], now: float, last_sent: Mapping[tuple[Channel, str], float]
    ) -> None:
        """Schedule ``routes`` from ``now``: each resumes one interval after its newest canary
        (``last_sent``), or takes its place in the even spread when it has none or is overdue."""
        ordered = sorted(routes, key=lambda route: (route.kommunenummer, route.channel.value))
        jitter = random.Random(self._seed)
        for index, route in enumerate(ordered):
            phase = (index + jitter.random()) / max(1, len(ordered))
            spread = now + phase * route.interval
            previous = last_sent.get(route.key)
            resume = None if previous is None else previous + route.interval
            self._set(route, resume if resume is not None and resume >= now else spread)

    def _set(self, route: Route, due: float) -> None:
        self._routes[route.key] = route
        self._due[route.key] = due
        heapq.heappush(self._heap, (due, route.key))

    def pop_due(self, now: float) -> list[tuple[Route, float]]:
        """Routes whose send is due at ``now``, each with its planned time; each is rescheduled one
        interval after its planned time (not after ``now``, so a late tick does not drift the route)."""
        due: list[tuple[Route, float]] = []
        while self._heap and self._heap[0][0] <= now:
            planned, key = heapq.heappop(self._heap)
            if self._due.get(key) != planned:
                continue  # superseded entry
            route = self._routes[key]
            due.append((route, planned))
            following = planned + route.interval
            if following <= now:
                # The probe fell more than a whole interval behind; skip the missed sends rather than
                # firing a burst to catch up.
                following = now + route.interval
            self._set(route, following)
        return due

    def next_due(self) -> float | None:
        """The earliest due time, if any route is scheduled."""
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def due_of(self, key: tuple[Channel, str]) -> float | None:
        """The next due time of one route."""
        return self._due.get(key)
