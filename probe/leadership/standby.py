"""What ``/metrics`` shows on a replica that does not lead: ``kanari_leader 0``, the build and the
process, nothing the ledger or the sending feeds.

Counters, per-route gauges and the heartbeat are the leader's alone. A standby showing them too (zeros,
or counts restored from the ledger) would make every ``sum()`` over the replicas count twice, and a
standby's heartbeat of 0 would read as a stale one. So a replica serves the :data:`STANDBY_FAMILIES`
of its registry while it stands by, and everything once it leads and its engine has restored the
counters from the ledger: the series then appear at the ledger's totals, which Prometheus takes as a new
series' first value, never as an increase (``rate`` and ``increase`` start from the second sample).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from probe.metrics.exposition import Exposition, gzip_parts

# Families a standby serves: its role, its version, and the process (by prefix).
STANDBY_FAMILIES = frozenset({"kanari_leader", "kanari_build_info"})
STANDBY_PREFIXES = ("process_", "python_")


def shown_by_standby(name: str) -> bool:
    """True for a family a standby serves."""
    return name in STANDBY_FAMILIES or name.startswith(STANDBY_PREFIXES)


class _Standby:
    """A collector of the standby's families of ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        return (family for family in self._registry.collect() if shown_by_standby(family.name))


class RoleExposition:
    """``/metrics`` of a replica: the full ``exposition`` while ``leading()``, else the standby's."""

    def __init__(
        self, registry: CollectorRegistry, exposition: Exposition, leading: Callable[[], bool]
    ) -> None:
        self._full = exposition
        self._leading = leading
        self._standby = CollectorRegistry()
        self._standby.register(_Standby(registry))

    def text(self) -> bytes:
        """The text exposition for the current role."""
        return self._full.text() if self._leading() else generate_latest(self._standby)

    async def gzip(self) -> bytes:
        """The same, gzip-compressed (the standby's is a few kilobytes: compressed every time)."""
        if self._leading():
            return await self._full.gzip()
        return await asyncio.to_thread(gzip_parts, [generate_latest(self._standby)])
