"""The benchmark's figures: derived from the parts' raw JSON, checked for honesty, printed as one table.

Per-canary CPU divides a window's CPU by the canaries *started* in it; in a steady state (a warm-up of
one interval first, the same rate throughout) each started canary stands for one whole lifecycle. The
breakdown of Kanari's CPU per canary is read off the floors of the same run:

- **content**: building what is sent (identity, signed marker, PDF, signed ASiC-E, CMS), metered inside
  Kanari;
- **HTTP, minimal**: the honest floor's CPU less its own content (h11 over pooled connections);
- **httpx over h11**: the same-transport floor less the honest floor (the HTTP stack Kanari uses);
- **ledger**: Kanari's own ledger writes, metered inside Kanari;
- **engine and metrics**: the rest (scheduling, status and read-back bookkeeping, verdicts, metric
  updates, the exposition rendered for the scrapes).

The status page's figures (:func:`status_figures`, from :mod:`bench.status_page`) are milliseconds per
page rendered uncached on 714 routes with a month of history, as the page's worker thread spends them
(ledger reads, views, templates), each with the ratio to its baseline: the same ledger reads alone
through the same connection. The loop's lag is how late a 10 ms sleep on the event loop wakes while the
national and vendor pages render on the worker, beside the same loop idle. They do not measure HTTP over
a socket, gzip, the browser, PostgreSQL, or reads racing the probe's writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The figures `make bench` promises, each with the target: (key, unit, target, better).
TARGETS: tuple[tuple[str, str, float | None, str], ...] = (
    ("honest_floor_ratio", "x", 3.0, "below"),
    ("same_transport_ratio", "x", 1.2, "below"),
    ("status_reads_per_canary_portal", "", 3.0, "below"),
    ("status_reads_per_canary_altinn", "", 3.0, "below"),
    ("outage_load_ratio", "x", 1.5, "below"),
    ("tick_ms_150k_open_idle", "ms", 2.0, "below"),
    ("restart_s_30d_20k", "s", 30.0, "below"),
    ("prune_max_block_ms", "ms", 100.0, "below"),
    ("rss_growth_7d_ratio", "x", 1.1, "below"),
    ("metrics_p99_ms_20k", "ms", 250.0, "below"),
    ("send_lag_p99_s", "s", None, "below"),
    ("status_national_ms", "ms", None, "below"),
    ("status_vendor_ms", "ms", None, "below"),
    ("status_municipality_ms", "ms", None, "below"),
    ("status_loop_lag_p99_ms", "ms", None, "below"),
)
REQUIRED = tuple(key for key, *_ in TARGETS)
FLOORS = ("floor", "durable_floor", "same_transport")
PER_CANARY_KINDS = ("send", "status", "readback", "cleanup", "directory", "token")
# The status part's pages (``vendor``: its 7- and 30-day counts read; ``vendor_warm``: the counts kept).
STATUS_PAGES = ("national", "vendor", "vendor_warm", "municipality")


def _per_canary(run: dict[str, Any]) -> float:
    return float(run["cpu"]) / max(1, int(run["started"]))


def honesty(raw: dict[str, Any]) -> list[str]:
    """What makes the comparison unfair, if anything: different routes, uncounted or unclassified
    requests, failed floor canaries, a window without canaries."""
    problems = []
    cpu = raw.get("cpu")
    if cpu:
        digests = {name: run["routes_digest"] for name, run in cpu.items()}
        if len(set(digests.values())) != 1:
            problems.append(f"the sides ran different routes: {digests}")
        for name, run in cpu.items():
            if int(run["started"]) <= 0:
                problems.append(f"{name}: no canary started in the window")
            if run["requests"].get("other", 0):
                problems.append(f"{name}: {run['requests']['other']} requests of no known kind")
            if run.get("failed"):
                problems.append(f"{name}: canaries failed: {run['failed']}")
        kanari = cpu.get("kanari")
        if kanari is not None and sum(kanari["requests"].values()) != sum(kanari["upstreams"].values()):
            problems.append(
                f"kanari: requests counted by kind {sum(kanari['requests'].values())} != "
                f"by upstream {sum(kanari['upstreams'].values())}"
            )
    return problems


def status_figures(status: dict[str, Any]) -> dict[str, float]:
    """The status part's figures: per page ``status_{page}_ms`` (median), ``status_{page}_worst_ms``,
    ``status_{page}_reads_ms`` (the baseline's median) and ``status_over_reads_ratio_{page}``; the loop's
    lag while rendering (``status_loop_lag_p99_ms``, ``status_loop_lag_max_ms``) and idle
    (``status_loop_lag_idle_p99_ms``, ``status_loop_lag_idle_max_ms``)."""
    figures: dict[str, float] = {}
    for name in STATUS_PAGES:
        page = status["pages"][name]
        figures[f"status_{name}_ms"] = page["page"]["median"]
        figures[f"status_{name}_worst_ms"] = page["page"]["worst"]
        figures[f"status_{name}_reads_ms"] = page["reads"]["median"]
        figures[f"status_over_reads_ratio_{name}"] = page["page"]["median"] / max(
            page["reads"]["median"], 1e-9
        )
    loop = status["loop"]
    figures["status_loop_lag_p99_ms"] = loop["rendering"]["p99"]
    figures["status_loop_lag_max_ms"] = loop["rendering"]["worst"]
    figures["status_loop_lag_idle_p99_ms"] = loop["idle"]["p99"]
    figures["status_loop_lag_idle_max_ms"] = loop["idle"]["worst"]
    return figures


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    """The headline figures (every key of :data:`REQUIRED` whose part ran) and the breakdown."""
    figures: dict[str, Any] = {}
    cpu = raw.get("cpu")
    if cpu:
        kanari = cpu["kanari"]
        per = {name: _per_canary(run) for name, run in cpu.items()}
        figures["cpu_ms_per_canary"] = {name: value * 1000 for name, value in per.items()}
        figures["honest_floor_ratio"] = per["kanari"] / per["floor"]
        figures["durable_floor_ratio"] = per["kanari"] / per["durable_floor"]
        figures["same_transport_ratio"] = per["kanari"] / per["same_transport"]
        started = max(1, int(kanari["started"]))
        content = kanari["meter_cpu"].get("content", 0.0) / started
        http = per["floor"] - cpu["floor"]["content_cpu"] / max(1, int(cpu["floor"]["started"]))
        httpx_extra = per["same_transport"] - per["floor"]
        ledger = kanari["meter_cpu"].get("ledger", 0.0) / started
        figures["breakdown_ms_per_canary"] = {
            "content": content * 1000,
            "http_minimal": http * 1000,
            "httpx_over_h11": httpx_extra * 1000,
            "ledger": ledger * 1000,
            "engine_and_metrics": (per["kanari"] - content - http - httpx_extra - ledger) * 1000,
        }
        figures["requests_per_canary"] = {
            name: {
                kind: run["requests"].get(kind, 0) / max(1, int(run["started"])) for kind in PER_CANARY_KINDS
            }
            for name, run in cpu.items()
        }
        figures["send_lag_p99_s_714"] = kanari["lag_p99"]
        figures["honesty_problems"] = honesty(raw)
    large = raw.get("large")
    if large:
        figures["metrics_p99_ms_20k"] = large["scrape"]["p99_seconds"] * 1000
        figures["metrics_scrapes_20k"] = large["scrape"]["scrapes"]
        figures["send_lag_p99_s"] = large["lag_p99"]
        figures["large_routes"] = large["routes"]
    if raw.get("status"):
        figures.update(status_figures(raw["status"]))
    for part in ("scale", "production"):
        for key, value in (raw.get(part) or {}).items():
            if key in REQUIRED or key not in figures:
                figures.setdefault(key, value)
    return figures


def _cell(value: Any, unit: str) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:.3g}{' ' + unit if unit and unit != 'x' else ('x' if unit == 'x' else '')}"


def render_table(figures: dict[str, Any], raw: dict[str, Any]) -> str:
    """The headline figures against their targets, then the breakdown and the request counts."""
    lines = [f"{'figure':<34} {'value':>12}  target"]
    for key, unit, target, _ in TARGETS:
        value = figures.get(key)
        met = "" if not isinstance(value, int | float) or target is None else (
            "met" if value <= target else "NOT MET"
        )  # fmt: skip
        bound = f"<= {_cell(target, unit)} {met}" if target is not None else "(reported)"
        lines.append(f"{key:<34} {_cell(value, unit):>12}  {bound}".rstrip())
    breakdown = figures.get("breakdown_ms_per_canary")
    if breakdown:
        cpu = figures["cpu_ms_per_canary"]
        lines.append("")
        lines.append(
            "CPU per canary (ms): " + ", ".join(f"{name} {value:.2f}" for name, value in cpu.items())
        )
        lines.append("Kanari's breakdown (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in breakdown.items()))
        each: Callable[[dict[str, float]], str] = lambda counts: " ".join(  # noqa: E731
            f"{kind}={counts[kind]:.2f}" for kind in PER_CANARY_KINDS
        )
        for name, counts in figures["requests_per_canary"].items():
            lines.append(f"requests per canary, {name:<15} {each(counts)}")
    if figures.get("honesty_problems"):
        lines.append("")
        lines.extend(f"NOT HONEST: {problem}" for problem in figures["honesty_problems"])
    if raw.get("production"):
        notes = raw["production"].get("notes")
        if notes:
            lines.append(f"production: {notes}")
    if raw.get("scale"):
        notes = raw["scale"].get("notes")
        if notes:
            lines.append(f"scale: {notes}")
    if raw.get("status"):
        lines.append("")
        lines.extend(_status_lines(figures, raw["status"]))
    return "\n".join(lines)


def _status_lines(figures: dict[str, Any], status: dict[str, Any]) -> list[str]:
    """Each page against its reads alone, and the loop's lag against the same loop idle."""
    lines = [
        f"status page ({status['routes']} routes, {status['days']:g} days, {status['rows']} canaries, "
        f"{status['incidents']} incidents; ledger built in {status['fill_seconds']:.0f} s), ms per page:"
    ]
    for name in STATUS_PAGES:
        key = f"status_{name}"
        lines.append(
            f"  {name:<13} median {figures[f'{key}_ms']:.3g}, worst {figures[f'{key}_worst_ms']:.3g}"
            f"; reads alone {figures[f'{key}_reads_ms']:.3g}"
            f"; page/reads {figures[f'status_over_reads_ratio_{name}']:.3g}x"
        )
    lag = {key: figures[f"status_loop_lag_{key}_ms"] for key in ("p99", "max", "idle_p99", "idle_max")}
    lines.append(
        f"  loop lag while rendering: p99 {lag['p99']:.3g} ms, max {lag['max']:.3g} ms; idle: p99 "
        f"{lag['idle_p99']:.3g} ms, max {lag['idle_max']:.3g} ms ({status['loop']['renders']} pages rendered)"
    )
    return lines
