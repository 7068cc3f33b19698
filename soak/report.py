"""The soak's plan, its runs (one per configuration, each in its own process) and the results document."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from probe.config.registry import packaged_registry
from probe.office_time import OfficeHours
from probe.sandbox.assignment import VENDORS_BY_ID, assign_all
from soak.analysis import score
from soak.cast import MUNICIPALITIES
from soak.plan import BLAME, DAY, SIGNALS, FaultPlan, Target, draw_plan
from soak.run import run_sync

KINDS = (*BLAME, *SIGNALS)
# Faults start after the routes had time to learn (50 delivered canaries: half a day on the portal, two
# days on Altinn), so the figures are about learned deadlines, not the cold start.
WARMUP = 4 * DAY
TARGETS = {
    "false_pages": 0,
    "faults_detected_right_owner_share": 1.0,
    "detection_over_floor_mean_portal": 1.25,
    "detection_over_floor_mean_altinn": 1.25,
    "detection_over_floor_p95": 1.5,
}
SIMULATED = (
    "The engine is real (probe.engine.core.Engine: scheduling, status checks, read-back batches, cleanup, "
    "verdicts, learned deadlines, overdue gauge, metrics) on a real SQLite ledger (on tmpfs) and a FakeClock "
    "advanced by the shortest poll interval (30 s). Simulated in process: KS's producer API, Altinn "
    "Correspondence and the vendors' read-back APIs (soak/upstreams.py: no HTTP, no tokens, no canary "
    "content: PDF, ASiC-E and CMS cost about 3 ms a canary and are measured by `make bench`; one fixed "
    "synthetic child per canary), with each canary's hop instants drawn at send from the sandbox's world "
    "model (probe/sandbox/behaviour: log-normal machine hops with a bounded Pareto tail and seeded slow "
    "days; people opening the inbox four times a working day with jitter, reading in office time, never "
    "on weekends or Norwegian holidays; fagsystem imports polling day and night). Alerts are not evaluated "
    "by Prometheus: the route loss and silence rules' conditions and for: durations are replayed on the "
    "verdicts and on the silence-limit and last-delivery gauges sampled every 5 minutes; overdue warnings "
    "from the kanari_overdue gauge's spans as the engine sets it."
)


def targets(municipalities: tuple[str, ...]) -> list[Target]:
    """The municipalities faults may strike, with whether their vendor has read-back."""
    assignments = assign_all(packaged_registry())
    return [
        Target(number, VENDORS_BY_ID[assignments[number].vendor_id].readback is not None)
        for number in municipalities
    ]


def make_plan(
    municipalities: tuple[str, ...], span: tuple[float, float], per_kind: int, seed: int
) -> FaultPlan:
    """The run's faults: ``per_kind`` of each kind after the warm-up."""
    start, end = span
    warmup = min(WARMUP, (end - start) * 0.15)
    return draw_plan(targets(municipalities), KINDS, per_kind, start + warmup, end, seed=seed)


def score_run(
    work: Path,
    configuration: str,
    plan: FaultPlan,
    span: tuple[float, float],
    *,
    municipalities: tuple[str, ...] = MUNICIPALITIES,
    seed: int = 1,
) -> dict[str, Any]:
    """Run one configuration and score it (a worker process's entry: only the figures travel back)."""
    logging.disable(logging.CRITICAL)  # the engine logs every verdict; a year of them is noise here
    work.mkdir(parents=True, exist_ok=True)
    outcome = run_sync(work, configuration, plan, municipalities, span, seed=seed)
    scored = score(outcome, plan, OfficeHours())
    scored["canaries"] = len(outcome.canaries)
    scored["canaries_by_channel"] = {
        channel: sum(1 for row in outcome.canaries if row["channel"] == channel)
        for channel in ("portal", "altinn")
    }
    scored["wall_seconds"] = round(outcome.wall_seconds, 1)
    scored["rss_mb"] = round(outcome.rss_bytes / 2**20, 1)
    scored["routes"] = len(outcome.routes)
    return scored


def _mean(scored: dict[str, Any] | None, key: str) -> float | None:
    if scored is None:
        return None
    found = scored["detection_over_floor"].get(key)
    return found["mean"] if found else None


def report(
    scored: dict[str, dict[str, Any]],
    plan: FaultPlan,
    span: tuple[float, float],
    *,
    wall: float,
) -> dict[str, Any]:
    """The results document: the six headline keys first, then the details."""
    start, end = span
    learned, fixed = scored.get("learned"), scored.get("fixed")
    headline = learned or fixed or {}
    false = headline.get("false_pages", {})
    p95 = headline.get("detection_over_floor", {}).get("all", {}).get("p95") if headline else None
    return {
        "false_pages": false.get("verdicts", 0)
        + false.get("loss_alerts", 0)
        + false.get("silence_alerts", 0),
        "detection_over_floor_mean_portal": _mean(headline, "portal"),
        "detection_over_floor_mean_altinn": _mean(headline, "altinn"),
        "detection_over_floor_p95": p95,
        "fixed_deadline_detection_over_floor_mean": _mean(fixed, "all"),
        "faults_detected_right_owner_share": headline.get("faults_detected_right_owner_share"),
        "overdue_warnings_healthy": false.get("overdue_warnings_healthy", 0),
        "targets": TARGETS,
        "simulated_days": round((end - start) / DAY, 2),
        "faults_planned": len(plan.faults),
        "fault_kinds": [kind.value for kind in KINDS],
        "wall_seconds": round(wall, 1),
        "what_is_simulated": SIMULATED,
        "configurations": scored,
    }
