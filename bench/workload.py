"""What the benchmark asks of Kanari and of the baseline: routes, timing, and the kinds of HTTP call.

Both sides get the same routes (the first ``N / 2`` municipalities of the synthetic registry, on both
channels; the real 357 first, so N = 714 is exactly the production route set) and the same timing, and
classify every request they make into the same kinds, so their counts line up column by column.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.procstat import pin_to
from probe.config.loader import KanariConfig
from probe.config.registry import Registry, packaged_registry
from probe.config.routes import Route
from probe.hops import Channel, Hop
from probe.sandbox.manifest import Manifest

# The benchmark sandbox's hops are all there within a few seconds: where Kanari's status checks first
# look (the floor polls on its own schedule).
NORMAL_LATENCY = 3.0


@dataclasses.dataclass(frozen=True)
class Timing:
    """Route timing for a run; ``interval`` is chosen per run so that N routes give the wanted rate."""

    interval: float
    deadline: float
    poll_interval: float
    readback_interval: float


# Every request is one of these. ``send``, ``status``, ``readback`` and ``cleanup`` are per canary (the
# last two only for canaries whose final hop is ``registered``); ``directory`` (a municipality's offices
# and encryption certificates) and ``token`` (Maskinporten grants, the Altinn token exchange) are cached
# by the protocol's own rules and amortise over many canaries; ``lookup`` only happens after a crash.
KINDS = ("send", "status", "readback", "cleanup", "directory", "token", "lookup", "other")

_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("token", "POST", re.compile(r"/maskinporten/token$")),
    ("token", "GET", re.compile(r"/authentication/api/v1/exchange/maskinporten$")),
    ("directory", "GET", re.compile(r"/kommuner/\d{4}/bydeler$|/krypteringsnokler$")),
    ("send", "POST", re.compile(r"/offentlig$|/correspondence/api/v1/correspondence$")),
    ("status", "GET", re.compile(r"/status$|/details$")),
    ("readback", "GET", re.compile(r"/kanari/v1/municipalities/\d{4}/canaries$")),
    ("cleanup", "DELETE", re.compile(r"/kanari/v1/municipalities/\d{4}/canaries/[^/]+$")),
    ("lookup", "GET", re.compile(r"/correspondence/api/v1/correspondence$")),
)


def kind_of(method: str, path: str) -> str:
    """The kind of a request by its method and URL path."""
    for kind, wanted, pattern in _PATTERNS:
        if method == wanted and pattern.search(path):
            return kind
    return "other"


def municipality_order(manifest: Manifest) -> list[str]:
    """Kommunenummer in the order runs take them: the real municipalities, then synthetic ones."""
    real = [municipality.kommunenummer for municipality in packaged_registry()]
    real_set = set(real)
    return [number for number in real if number in manifest.municipalities] + sorted(
        number for number in manifest.municipalities if number not in real_set
    )


def final_hop(channel: Channel, has_readback: bool, imports_altinn: bool) -> Hop:
    """A route's final hop by the rules of the demo configuration (``probe.sandbox.democonfig``)."""
    if channel is Channel.PORTAL:
        return Hop.REGISTERED if has_readback else Hop.RECEIPTED
    return Hop.REGISTERED if has_readback and imports_altinn else Hop.FETCHED


def bench_routes(
    config: KanariConfig, manifest: Manifest, registry: Registry, count: int, timing: Timing
) -> tuple[Route, ...]:
    """``count`` routes (an even number): the configured route where the demo configuration has one,
    else one made from the sandbox's assignment of the synthetic municipality, all with ``timing``."""
    configured = {route.key: route for route in config.routes}
    routes: list[Route] = []
    for number in municipality_order(manifest)[: count // 2]:
        info = manifest.municipalities[number]
        for channel in Channel:
            route = configured.get((channel, number))
            if route is None:
                route = Route(
                    channel=channel,
                    kommunenummer=number,
                    municipality_name=info.name,
                    county=registry[number].county,
                    orgnr=info.orgnr,
                    vendor=info.vendor,
                    bydel=None,
                    interval=timing.interval,
                    deadline=timing.deadline,
                    poll_interval=timing.poll_interval,
                    final_hop=final_hop(
                        channel, config.vendor_has_readback(info.vendor), info.imports_altinn
                    ),
                )
            routes.append(
                dataclasses.replace(
                    route,
                    interval=timing.interval,
                    deadline=timing.deadline,
                    poll_interval=timing.poll_interval,
                    normal_latency=NORMAL_LATENCY,
                )
            )
    return tuple(routes)


def routes_digest(routes: tuple[Route, ...]) -> str:
    """A digest of the routes' keys and timing, for checking that every side ran the same routes."""
    text = "\n".join(
        f"{r.channel.value} {r.kommunenummer} {r.vendor} {r.final_hop.value} {r.interval:g} {r.deadline:g}"
        for r in routes
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options the floor and Kanari both take, so the orchestrator gives them the same run."""
    parser.add_argument("--state-dir", type=Path, required=True, help="the benchmark sandbox's state")
    parser.add_argument("--registry", type=Path, required=True, help="the synthetic registry file")
    parser.add_argument("--work", type=Path, required=True, help="where the run's files go")
    parser.add_argument("--routes", type=int, required=True, help="N")
    parser.add_argument("--interval", type=float, required=True, help="seconds between a route's canaries")
    parser.add_argument("--deadline", type=float, default=60.0)
    parser.add_argument("--poll", type=float, default=1.0, help="status and read-back poll period")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--cpu", type=int, help="the CPU to pin the process to")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON figures go")


def run_and_write(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
) -> None:
    """A measured process's entry: parse the options, pin to the CPU asked for, run, write the figures."""
    arguments = parser.parse_args()
    pin_to(arguments.cpu)
    result = asyncio.run(run(arguments))
    arguments.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
