"""Counting what the probe asks of each upstream during a simulated week, by part of the week.

Every request the runtime's HTTP clients send is seen by an httpx request hook and counted by the part
of the week it fell in (:meth:`bench.week.Plan.period`), the upstream whose client sent it (``portal``
is KS's Fiks API, ``altinn``, ``maskinporten``, ``readback:<vendor>`` for each vendor's read-back API,
counted together as ``readback``) and its kind (:func:`bench.workload.kind_of`). Status reads are also
counted per upstream id (a KS report id, an Altinn correspondence id), so they can be added up per canary
afterwards, and those of canaries already judged (the watch for late arrivals) apart. The runtime's own
per-upstream counters (``Upstream.requests``) are read beside, as a check that the hook saw everything.

It does not count what the sandbox does, nor time anything.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable

import httpx

from bench.workload import kind_of
from probe.lifecycle.record import CanaryRecord
from probe.runtime import Runtime

Key = tuple[str, str, str]
"""(period, upstream, kind)."""


def upstream_name(key: str) -> str:
    """The name a runtime upstream is reported under: every vendor's read-back is ``readback``."""
    return key.partition(":")[0]


def status_id(path: str) -> str:
    """The upstream id in a status read's path (``.../{id}/status``, ``.../{id}/details``)."""
    return path.rstrip("/").rsplit("/", 2)[-2]


class RequestTally:
    """Requests by (period, upstream, kind), and status reads by upstream id."""

    def __init__(self, period_now: Callable[[], str], judged: Callable[[str], bool] | None = None) -> None:
        """``judged`` tells whether the canary of an upstream id already has its verdict (a status read
        of it is then a watch look for a late arrival)."""
        self._period_now = period_now
        self._judged = judged
        self.counts: collections.Counter[Key] = collections.Counter()
        self.status_reads: collections.Counter[str] = collections.Counter()
        # Status reads of canaries already judged, by (period, upstream): the watch's share.
        self.watch_reads: collections.Counter[tuple[str, str]] = collections.Counter()

    def count(self, upstream: str, method: str, path: str) -> None:
        """One request by ``upstream``."""
        kind = kind_of(method, path)
        period = self._period_now()
        self.counts[(period, upstream, kind)] += 1
        if kind == "status":
            upstream_id = status_id(path)
            self.status_reads[upstream_id] += 1
            if self._judged is not None and self._judged(upstream_id):
                self.watch_reads[(period, upstream)] += 1

    def attach(self, runtime: Runtime) -> None:
        """Count every request of ``runtime``'s upstreams from now on."""
        for key, upstream in runtime.upstreams.items():

            async def hook(request: httpx.Request, name: str = key) -> None:
                self.count(name, request.method, request.url.path)

            upstream.client.event_hooks["request"].append(hook)

    def total(
        self,
        periods: Iterable[str],
        *,
        upstream: str | None = None,
        kind: str | None = None,
    ) -> int:
        """Requests in ``periods``, optionally of one upstream (``readback``: every vendor's, or
        ``readback:<vendor>``) and/or one kind."""
        wanted = set(periods)
        return sum(
            count
            for (period, name, what), count in self.counts.items()
            if period in wanted and upstream in (None, name, upstream_name(name)) and kind in (None, what)
        )


def upstream_totals(runtime: Runtime) -> dict[str, int]:
    """The runtime's own request counters, by upstream key (``readback:<vendor>`` each)."""
    return {key: upstream.requests for key, upstream in runtime.upstreams.items()}


class JudgedIndex:
    """Whether the open canary with an upstream id has its verdict, from the engine's open set (the
    index by upstream id is rebuilt when an id is not in it: a canary sent since)."""

    def __init__(self, runtime: Runtime) -> None:
        self._records = runtime.engine.canaries.records
        self._by_upstream: dict[str, CanaryRecord] = {}

    def __call__(self, upstream_id: str) -> bool:
        record = self._by_upstream.get(upstream_id)
        if record is None:
            self._by_upstream = {r.upstream_id: r for r in self._records.values() if r.upstream_id}
            record = self._by_upstream.get(upstream_id)
        return record is not None and record.verdict is not None
