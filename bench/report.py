"""The benchmark's figures: derived from the children's raw JSON, and printed as one table.

Per-canary figures divide a measurement window's totals by the canaries *started* in it; in a steady
state (warm-up first, same rate throughout) each started canary stands for one whole lifecycle: send,
status polls, read-back, cleanup, ledger, metrics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

# Requests a canary makes itself, by kind; tokens and the per-municipality directory are cached by the
# protocols' own rules and amortise over many canaries, so they are reported but not per canary.
PER_CANARY_KINDS = ("send", "status", "readback", "cleanup")

# The targets.
OVERHEAD_TARGET = 1.5
SCRAPE_TARGET_SECONDS = 0.25
REQUESTS_TARGET = 1.3
TARGET_RATE = 20_000 / 300.0  # 20 000 routes at a 5-minute interval
LAG_LIMIT = 1.0


@dataclasses.dataclass(frozen=True)
class SizeFigures:
    """Everything measured at one N."""

    routes: int
    interval: float
    rate: float
    kanari_cpu_per_canary: float
    floor_cpu_per_canary: float
    overhead_ratio: float
    overhead_ratio_without_content: float
    core_share: float
    projected_max_rate: float
    lag_p50: float
    lag_p99: float
    kept_up: bool
    verdicts: dict[str, int]
    requests_per_canary: dict[str, float]
    floor_requests_per_canary: dict[str, float]
    amortised_requests: dict[str, int]
    requests_by_upstream_per_canary: dict[str, float]
    protocol_minimum_per_canary: float
    requests_ratio: float
    rss_steady_bytes: int
    rss_per_in_flight_bytes: float
    python_bytes_per_in_flight: float
    scrape_bytes: int
    scrape_series: int
    scrape_seconds: float
    scrape_generate_latest_seconds: float
    scrape_speedup: float
    ledger_writes_per_canary: float
    ledger_commits_per_canary: float
    ledger_cpu_share: float
    sandbox_cpu_share: float


def derive(
    routes: int, interval: float, kanari: dict[str, Any], floor: dict[str, Any], sandbox_share: float
) -> SizeFigures:
    """The figures of one size from Kanari's and the floor's raw results."""
    started = max(1, int(kanari["started"]))
    floor_started = max(1, int(floor["started"]))
    kanari_cpu = kanari["cpu"] / started
    floor_cpu = floor["cpu"] / floor_started
    content = kanari["meter_cpu"].get("content", 0.0) / started
    floor_content = floor.get("content_cpu", 0.0) / floor_started
    requests = {kind: kanari["requests"].get(kind, 0) / started for kind in PER_CANARY_KINDS}
    floor_requests = {kind: floor["requests"].get(kind, 0) / floor_started for kind in PER_CANARY_KINDS}
    ledger = kanari["ledger"]
    # The protocol's floor per canary: one send and one status read that shows the final state; for
    # canaries whose final hop is `registered`, one read-back call that lists it and one DELETE.
    # (Batching can take read-back below one call per canary only when a municipality has several
    # canaries waiting at once, which at one canary per route and interval it rarely has.)
    registered_share = ledger["registered_final"] / max(1, ledger["sent"])
    minimum = 2.0 + 2.0 * registered_share
    core_share = kanari["cpu"] / kanari["window"]
    rate = kanari["started"] / kanari["window"]
    memory = kanari.get("memory", {})
    in_flight = max(1, int(memory.get("in_flight", 0)))
    scrape = kanari["scrape"]
    return SizeFigures(
        routes=routes,
        interval=interval,
        rate=rate,
        kanari_cpu_per_canary=kanari_cpu,
        floor_cpu_per_canary=floor_cpu,
        overhead_ratio=kanari_cpu / floor_cpu,
        overhead_ratio_without_content=(kanari_cpu - content) / max(1e-9, floor_cpu - floor_content),
        core_share=core_share,
        projected_max_rate=rate / max(1e-9, core_share),
        lag_p50=kanari["lag_p50"],
        lag_p99=kanari["lag_p99"],
        kept_up=kanari["lag_p99"] < LAG_LIMIT and not kanari["scheduler_errors"],
        verdicts={str(key): int(value) for key, value in ledger["verdicts"].items()},
        requests_per_canary=requests,
        floor_requests_per_canary=floor_requests,
        amortised_requests={
            kind: int(kanari["requests"].get(kind, 0)) for kind in ("token", "directory", "lookup", "other")
        },
        requests_by_upstream_per_canary={
            name: count / started for name, count in kanari["upstreams"].items()
        },
        protocol_minimum_per_canary=minimum,
        requests_ratio=sum(requests.values()) / minimum,
        rss_steady_bytes=int(kanari["rss_steady"]),
        rss_per_in_flight_bytes=(memory.get("rss_after", 0) - memory.get("rss_before", 0)) / in_flight,
        python_bytes_per_in_flight=memory.get("python_bytes", 0) / in_flight,
        scrape_bytes=int(scrape["bytes"]),
        scrape_series=int(scrape["series"]),
        scrape_seconds=scrape["render_seconds"],
        scrape_generate_latest_seconds=scrape["generate_latest_seconds"],
        scrape_speedup=scrape["generate_latest_seconds"] / max(1e-9, scrape["render_seconds"]),
        ledger_writes_per_canary=kanari["ledger_writes"] / started,
        ledger_commits_per_canary=kanari["ledger_commits"] / started,
        ledger_cpu_share=kanari["meter_cpu"].get("ledger", 0.0) / max(1e-9, kanari["cpu"]),
        sandbox_cpu_share=sandbox_share,
    )


def _mark(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def render_table(sizes: Sequence[SizeFigures], sweep: Sequence[dict[str, Any]]) -> str:
    """One table, a column per N, with each target and whether it is met."""
    rows: list[tuple[str, list[str], str]] = []

    def row(label: str, cells: list[str], target: str = "") -> None:
        rows.append((label, cells, target))

    def each(format_one: Any) -> list[str]:
        return [format_one(size) for size in sizes]

    at_5000 = next((size for size in sizes if size.routes == 5_000), None)
    at_20000 = next((size for size in sizes if size.routes == 20_000), None)
    row("rate (canaries/s)", each(lambda s: f"{s.rate:.1f}"))
    row("CPU per canary, Kanari (ms)", each(lambda s: f"{s.kanari_cpu_per_canary * 1000:.2f}"))
    row("CPU per canary, bare httpx (ms)", each(lambda s: f"{s.floor_cpu_per_canary * 1000:.2f}"))
    row(
        "overhead ratio (Kanari / bare httpx)",
        each(lambda s: f"{s.overhead_ratio:.2f}"),
        f"<= {OVERHEAD_TARGET} at 5000: {_mark(at_5000.overhead_ratio <= OVERHEAD_TARGET)}"
        if at_5000
        else f"<= {OVERHEAD_TARGET} at 5000",
    )
    row("  same, content building excluded", each(lambda s: f"{s.overhead_ratio_without_content:.2f}"))
    row("share of one core used", each(lambda s: f"{s.core_share:.0%}"))
    row("projected max rate on one core (/s)", each(lambda s: f"{s.projected_max_rate:.0f}"))
    row(
        "scheduler lag p50 / p99 (s)",
        each(lambda s: f"{s.lag_p50:.2f} / {s.lag_p99:.2f}"),
        f"p99 < {LAG_LIMIT:g} s",
    )
    row(
        "kept up",
        each(lambda s: "yes" if s.kept_up else "no"),
        f"20000 at 5 min: {_mark(at_20000.kept_up and at_20000.rate >= 0.95 * TARGET_RATE)}"
        if at_20000
        else "20000 at 5 min",
    )
    row("verdicts in window", each(lambda s: " ".join(f"{k}={v}" for k, v in sorted(s.verdicts.items()))))
    for kind in PER_CANARY_KINDS:
        row(
            f"{kind} requests per canary (httpx)",
            each(
                lambda s, kind=kind: (
                    f"{s.requests_per_canary[kind]:.2f} ({s.floor_requests_per_canary[kind]:.2f})"
                )
            ),
        )
    row(
        "requests per canary / protocol minimum",
        each(lambda s: f"{s.requests_ratio:.2f}"),
        f"<= {REQUESTS_TARGET}: {_mark(all(s.requests_ratio <= REQUESTS_TARGET for s in sizes))}",
    )
    for upstream in sorted({name for s in sizes for name in s.requests_by_upstream_per_canary}):
        row(
            f"requests per canary to {upstream}",
            each(lambda s, name=upstream: f"{s.requests_by_upstream_per_canary.get(name, 0.0):.2f}"),
        )
    row(
        "token + directory requests (window)",
        each(lambda s: f"{s.amortised_requests['token']} + {s.amortised_requests['directory']}"),
    )
    row("RSS steady (MB)", each(lambda s: f"{s.rss_steady_bytes / 1e6:.0f}"))
    row(
        "memory per in-flight canary (bytes)",
        each(lambda s: f"{s.python_bytes_per_in_flight:.0f} (RSS {s.rss_per_in_flight_bytes:.0f})"),
    )
    row("/metrics size (MB, series)", each(lambda s: f"{s.scrape_bytes / 1e6:.1f} ({s.scrape_series})"))
    row(
        "/metrics render (ms)",
        each(lambda s: f"{s.scrape_seconds * 1000:.0f}"),
        f"< {SCRAPE_TARGET_SECONDS * 1000:.0f} ms at 20000: "
        f"{_mark(at_20000.scrape_seconds < SCRAPE_TARGET_SECONDS)}"
        if at_20000
        else f"< {SCRAPE_TARGET_SECONDS * 1000:.0f} ms at 20000",
    )
    row("  speed-up over generate_latest", each(lambda s: f"{s.scrape_speedup:.0f}x"))
    row(
        "ledger writes / commits per canary",
        each(lambda s: f"{s.ledger_writes_per_canary:.1f} / {s.ledger_commits_per_canary:.2f}"),
    )
    row("ledger share of Kanari's CPU", each(lambda s: f"{s.ledger_cpu_share:.0%}"))
    row("sandbox's share of its core", each(lambda s: f"{s.sandbox_cpu_share:.0%}"))

    header = ["N routes", *[str(size.routes) for size in sizes], "target"]
    body = [[label, *cells, target] for label, cells, target in rows]
    widths = [max(len(line[column]) for line in [header, *body]) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if sweep:
        lines.append("")
        lines.append(f"rate sweep (Kanari alone, {len(sweep)} runs; kept up = lag p99 < {LAG_LIMIT:g} s):")
        for point in sweep:
            lines.append(
                f"  planned {point['planned_rate']:>5.0f}/s  achieved {point['rate']:>6.1f}/s  "
                f"core {point['cpu_share']:>4.0%}  lag p99 {point['lag_p99']:.2f} s  "
                f"delivered {point['delivered_share']:>4.0%}  "
                f"{'kept up' if point['kept_up'] else 'SATURATED'}  "
                f"(sandbox core {point['sandbox_cpu_share']:.0%})"
            )
    return "\n".join(lines)
