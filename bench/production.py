"""``python -m bench.production``: Kanari in steady state at production timing over a simulated week.

One process runs the real sandbox and the real probe on one fake clock (:mod:`bench.week`) over 20
routes at the example configuration's timing, for 7 simulated days: day 1 warm-up, day 2 while the
sandbox's retention fills, then the steady part: healthy day 3, a 24-hour outage of one vendor (a fifth
of the routes) on day 4, recovery, healthy days 5 to 7; and all week a vendor whose read-back refuses
every DELETE. ``--smoke`` runs 2 days with a 6-hour outage on day 2. The figures go to ``--out`` as JSON:

- status reads per canary judged, per channel, on the routes that never went down, in the healthy part;
- requests per canary by kind, healthy and during the outage;
- the load on KS, Altinn and the read-back APIs during the outage against the healthy part;
- how long the outage took to detect, against the bound of a route's interval plus its deadline;
- memory and the open set over the steady part, and the cleanup failures of the refusing vendor.

What it does not measure: CPU cost or throughput at scale (``python -m bench``), anything of the
sandbox but what the probe sees, or wall-clock latencies (nothing waits for real time here).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bench.procstat import pin_to
from bench.simulate import Observation, simulate
from bench.tally import upstream_name
from bench.week import FULL, SMOKE, Plan
from bench.workload import KINDS

# The figures measured in the healthy part ("healthy") and during the outage ("outage").
HEALTHY, OUTAGE = "healthy", "outage"
MB = 1024 * 1024
STATUS_READ_TARGET = 3.0
OUTAGE_LOAD_TARGET = 1.5


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _judged(observation: Observation, period: str) -> list[dict[str, Any]]:
    """Canaries whose verdict fell in ``period``."""
    plan, start = observation.plan, observation.start
    return [
        row
        for row in observation.canaries
        if row["verdict_at"] is not None and plan.period(row["verdict_at"] - start) == period
    ]


def status_reads(observation: Observation, channel: str) -> tuple[float, float]:
    """Mean and largest number of status reads of a canary judged in the healthy part on a route that
    never went down (every read of that canary, whenever it was made)."""
    down = set(observation.plan.cast.down)
    reads = [
        observation.tally.status_reads.get(row["upstream_id"] or "", 0)
        for row in _judged(observation, HEALTHY)
        if row["channel"] == channel and row["municipality"] not in down
    ]
    if not reads:
        return 0.0, 0.0
    return sum(reads) / len(reads), float(max(reads))


def per_canary(observation: Observation, period: str) -> dict[str, float]:
    """Requests of each kind in ``period``, per canary judged in it."""
    judged = len(_judged(observation, period))
    tally = observation.tally
    return {kind: _ratio(tally.total([period], kind=kind), judged) for kind in KINDS}


def load_ratio(observation: Observation, upstream: str) -> float:
    """Requests per second to ``upstream`` during the outage over the same in the healthy part."""
    plan, tally = observation.plan, observation.tally
    outage = _ratio(tally.total([OUTAGE], upstream=upstream), plan.seconds_in(OUTAGE))
    healthy = _ratio(tally.total([HEALTHY], upstream=upstream), plan.seconds_in(HEALTHY))
    return _ratio(outage, healthy)


def by_upstream(requests: dict[str, int]) -> dict[str, int]:
    """Requests by upstream, every vendor's read-back together."""
    totals: collections.Counter[str] = collections.Counter()
    for key, count in requests.items():
        totals[upstream_name(key)] += count
    return dict(sorted(totals.items()))


def detection(observation: Observation) -> dict[str, dict[str, float]]:
    """Per channel and verdict (``lost``, ``unknown``), minutes from the outage's start to the first
    such verdict on a route that went down (what did not happen is left out)."""
    plan = observation.plan
    began = observation.start + plan.outage_start
    first: dict[str, dict[str, float]] = {}
    for row in observation.canaries:
        if (
            row["verdict"] in ("lost", "unknown")
            and row["municipality"] in plan.cast.down
            and row["verdict_at"] is not None
            and row["verdict_at"] >= began
        ):
            found = first.setdefault(row["channel"], {})
            minutes = (row["verdict_at"] - began) / 60.0
            found[row["verdict"]] = min(found.get(row["verdict"], minutes), minutes)
    return {channel: dict(sorted(found.items())) for channel, found in sorted(first.items())}


def hourly(observation: Observation, upstream: str) -> dict[str, dict[str, float]]:
    """Requests per hour to ``upstream`` by kind, in the healthy part and during the outage; status
    reads also as ``status_watch``, those of canaries already judged (watched for a late arrival)."""
    plan, tally = observation.plan, observation.tally
    rates = {
        period: {
            kind: round(
                _ratio(tally.total([period], upstream=upstream, kind=kind), plan.seconds_in(period)) * 3600.0,
                2,
            )
            for kind in KINDS
            if tally.total([period], upstream=upstream, kind=kind)
        }
        for period in (HEALTHY, OUTAGE)
    }
    for period, rate in rates.items():
        watch = sum(
            count
            for (part, name), count in tally.watch_reads.items()
            if part == period and upstream in (name, upstream_name(name))
        )
        if watch:
            rate["status_watch"] = round(_ratio(watch, plan.seconds_in(period)) * 3600.0, 2)
    return rates


def verdicts_by_period(observation: Observation) -> dict[str, dict[str, int]]:
    """How many canaries got each verdict in each part of the week."""
    counts: dict[str, collections.Counter[str]] = {}
    for row in observation.canaries:
        if row["verdict_at"] is None:
            continue
        period = observation.plan.period(row["verdict_at"] - observation.start)
        counts.setdefault(period, collections.Counter())[row["verdict"]] += 1
    return {period: dict(sorted(counter.items())) for period, counter in sorted(counts.items())}


def notes(plan: Plan, smoke: bool) -> dict[str, str]:
    """What the figures mean, in words."""
    hours = 3600.0
    written = {
        "steady_part": (
            f"from {plan.steady_start / hours:g} h to the end ({plan.length / hours:g} h); the sandbox "
            "and the probe share the process, and the sandbox forgets after its retention (2 days), so "
            "memory is compared from the steady part's start, when the sandbox already forgets as fast "
            "as it learns"
            if not smoke
            else f"from {plan.steady_start / hours:g} h: inside the sandbox's 2-day retention, so memory "
            "growth here includes the sandbox filling up"
        ),
        "healthy_part": (
            "the steady part outside the outage and the "
            f"{plan.recovery / hours:g} h after it; status reads per canary count only routes of vendors "
            "that never went down (the DELETE-refusing vendor's routes included: its canaries are "
            "delivered), every read of each canary judged in the healthy part"
        ),
        "outage": (
            f"vendor.down on {','.join(plan.cast.down)} from {plan.outage_start / hours:g} h to "
            f"{plan.outage_end / hours:g} h (both import Altinn mail: both channels stop); "
            f"vendor.delete_refused on {','.join(plan.cast.refusing)} all along"
        ),
        "requests_per_canary": "requests of each kind in the part, over the canaries judged in it",
        "outage_load_ratio": "requests per second to the upstream during the outage over the healthy part",
        "rss": "resident memory of the whole process after a garbage collection, every 6 simulated hours",
        "detection": (
            "detection_minutes_outage is the portal's first lost verdict; the down vendor's Altinn routes "
            "end unknown, not lost (their final hop, registered, is seen by read-back alone, which "
            "answers 503 while the vendor is down: a blind probe says unknown)"
        ),
        "per_hour": "status_watch: the status reads of canaries already judged (watched for a late arrival)",
        "log_lines": "the probe's and the sandbox's log lines of WARNING and above, counted, not printed",
    }
    if smoke:
        written["smoke"] = (
            "--smoke: 2 simulated days, a 6-hour outage on day 2, one municipality per vendor (10 routes); "
            "not the production figures"
        )
    return written


def figures(observation: Observation, *, smoke: bool = False) -> dict[str, Any]:
    """The run's figures, as the JSON written to ``--out``."""
    plan = observation.plan
    samples = observation.samples
    steady = [each for each in samples if each.hours * 3600.0 >= plan.steady_start]
    first, last = (steady[0], steady[-1]) if steady else (samples[0], samples[-1])
    portal, portal_max = status_reads(observation, "portal")
    altinn, altinn_max = status_reads(observation, "altinn")
    detected = detection(observation)
    bounds = {channel: bound / 60.0 for channel, bound in sorted(observation.detection_bounds.items())}
    refusing = {observation.vendors[number] for number in plan.cast.refusing}
    seen_by_hook = sum(observation.tally.counts.values())
    return {
        "status_reads_per_canary_portal": portal,
        "status_reads_per_canary_portal_max": portal_max,
        "status_reads_per_canary_altinn": altinn,
        "status_reads_per_canary_altinn_max": altinn_max,
        "status_reads_target": STATUS_READ_TARGET,
        "requests_per_canary_healthy": per_canary(observation, HEALTHY),
        "requests_per_canary_outage": per_canary(observation, OUTAGE),
        "outage_load_ratio": load_ratio(observation, "portal"),
        "outage_load_ratio_altinn": load_ratio(observation, "altinn"),
        "outage_load_ratio_readback": load_ratio(observation, "readback"),
        "outage_load_target": OUTAGE_LOAD_TARGET,
        "detection_minutes_outage": detected.get("portal", {}).get("lost", -1.0),
        "detection_bound_minutes": bounds.get("portal", 0.0),
        "detection_minutes_by_channel": detected,
        "detection_bound_minutes_by_channel": bounds,
        "rss_growth_7d_ratio": _ratio(last.rss_bytes, first.rss_bytes),
        "rss_mb_samples": [round(each.rss_bytes / MB, 1) for each in samples],
        "open_canaries_samples": [each.open_canaries for each in samples],
        "open_canaries_max": max((each.open_canaries for each in samples), default=0),
        "open_growth_7d_ratio": _ratio(last.open_canaries, first.open_canaries),
        "cleanup_failures": sum(observation.cleanup_failures.get(vendor, 0.0) for vendor in refusing),
        "cleanup_failures_by_vendor": dict(sorted(observation.cleanup_failures.items())),
        "verdicts_by_period": verdicts_by_period(observation),
        "hours_by_period": {
            period: plan.seconds_in(period) / 3600.0 for period in ("warmup", HEALTHY, OUTAGE, "recovery")
        },
        "requests_by_upstream": by_upstream(observation.upstream_requests),
        "portal_requests_per_hour": hourly(observation, "portal"),
        "altinn_requests_per_hour": hourly(observation, "altinn"),
        "readback_requests_per_hour": hourly(observation, "readback"),
        "outage_load_ratio_by_upstream": {
            key: load_ratio(observation, key) for key in sorted(observation.upstream_requests)
        },
        "log_lines": observation.log_lines,
        "requests_seen_by_hook_ratio": _ratio(seen_by_hook, sum(observation.upstream_requests.values())),
        "canaries_judged": sum(1 for row in observation.canaries if row["verdict"] is not None),
        "canaries_sent": len(observation.canaries),
        "routes": 2 * len(plan.cast.municipalities),
        "simulated_days": plan.days,
        "wall_seconds": observation.wall_seconds,
        "notes": notes(plan, smoke),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.production", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--work", type=Path, required=True, help="where the run's files go")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON figures go")
    parser.add_argument("--smoke", action="store_true", help="2 simulated days, a 6-hour outage")
    parser.add_argument("--cpu", type=int, help="the CPU to pin the process to")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry."""
    arguments = parse(argv)
    pin_to(arguments.cpu)
    work: Path = arguments.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    plan = SMOKE if arguments.smoke else FULL

    def progress(hours: float) -> None:
        print(f"bench.production: {hours / 24:g} of {plan.days:g} simulated days", file=sys.stderr)

    # The probe's warnings (a line per lost verdict, per abandoned cleanup) are counted, not printed.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger().handlers[0].setLevel(logging.ERROR)
    observation = asyncio.run(simulate(work, plan, progress=progress))
    result = figures(observation, smoke=arguments.smoke)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
