"""Scoring a soak run: detection against the physical floor, false pages, and the signals of the faults
that must not page.

Definitions (the report's ``definitions`` repeats them):

- A canary is **the fault's** when it was sent before the fault ended and was still unresolved when it
  began (``created_at < end`` and ``verdict_at >= start``, on the fault's municipality): its verdict is
  the fault's after-effect, whatever it is. Every other lost or failed verdict is a **false page**.
- **Detection** of a fault: from its start to the first lost or failed verdict on the scored route
  (:data:`soak.plan.BLAME`) of a canary sent after the previous fault on the municipality ended; it is
  *right* when that verdict names the fault's hop and owner.
- **Floor**: (send time of the first canary after the start - start) + the healthy p99.9 latency to the
  hop that broke (the same run's canaries sent with no fault near them, per channel and hop) + the
  route's poll interval. For a person's hop (Altinn ``fetched``, ``read``) detection and floor are both
  measured in office seconds (:class:`probe.office_time.OfficeHours`).
- **Critical route alerts**, simulated from the verdicts and the sampled gauges, not evaluated by
  Prometheus: *losing canaries* (and the two dedicated loss alerts) fires when two lost or failed
  verdicts (owner not ``ops``) of one (route, hop, owner) fall within ``loss_window`` and the condition
  holds for ``route_for``; *silent* fires when ``now - kanari_last_delivered_timestamp_seconds`` exceeds
  ``kanari_route_silence_limit_seconds`` (sampled every five minutes) for ``silent_for``, unless the route
  had an unknown verdict in the loss window. Counted on false verdicts alone (loss), and on silences not
  overlapping a fault or the day after it (silence).
- **Overdue warnings** on healthy routes: spans of ``kanari_overdue > 0`` per (route, hop) lasting at
  least ``overdue_for``, not overlapping a fault or the day after it on the municipality.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from probe.config.routes import Route
from probe.hops import HUMAN_HOPS, Channel, Hop, Owner, hops_of, hops_until, owner_of
from probe.office_time import OfficeHours
from probe.render.timing import PRODUCTION, ChannelTiming, channel_timings
from soak.plan import BLAME, DAY, SIGNALS, FaultPlan, PlannedFault
from soak.run import Outcome

UNDELIVERED = ("lost", "failed")
EXAMPLE_COLUMNS = (
    "channel",
    "municipality",
    "vendor",
    "created_at",
    "verdict_at",
    "blamed_hop",
    "blamed_owner",
)
# A silence or an overdue span this long after a fault ended is still the fault's.
AFTER_EFFECT = 1 * DAY


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]


def share(part: int, whole: int) -> float:
    """``part / whole`` rounded, 0 for an empty whole."""
    return round(part / whole, 4) if whole else 0.0


def summary(values: Sequence[float]) -> dict[str, float]:
    """Count, mean, p95 and largest of ``values``."""
    if not values:
        return {"count": 0, "mean": 0.0, "p95": 0.0, "max": 0.0}
    return {
        "count": len(values),
        "mean": round(statistics.fmean(values), 4),
        "p95": round(quantile(values, 0.95), 4),
        "max": round(max(values), 4),
    }


class Verdicts:
    """The run's canaries, by route, in send order."""

    def __init__(self, canaries: Iterable[Mapping[str, Any]]) -> None:
        self.by_route: dict[tuple[str, str], list[Mapping[str, Any]]] = collections.defaultdict(list)
        for row in canaries:
            self.by_route[(row["channel"], row["municipality"])].append(row)
        for rows in self.by_route.values():
            rows.sort(key=lambda row: row["created_at"])
        self.sent = {key: [row["created_at"] for row in rows] for key, rows in self.by_route.items()}

    def first_sent(self, key: tuple[str, str], after: float) -> float | None:
        """The send time of the route's first canary at or after ``after``."""
        sent = self.sent.get(key, [])
        index = bisect.bisect_left(sent, after)
        return sent[index] if index < len(sent) else None

    def sent_between(self, key: tuple[str, str], start: float, end: float) -> list[Mapping[str, Any]]:
        """The route's canaries sent in [``start``, ``end``)."""
        sent = self.sent.get(key, [])
        rows = self.by_route.get(key, [])
        return rows[bisect.bisect_left(sent, start) : bisect.bisect_left(sent, end)]


def theirs(row: Mapping[str, Any], faults: Sequence[PlannedFault]) -> PlannedFault | None:
    """The fault whose after-effect the canary's verdict is, if any."""
    verdict_at = row["verdict_at"] if row["verdict_at"] is not None else math.inf
    for fault in faults:
        if row["created_at"] < fault.end and verdict_at >= fault.start:
            return fault
    return None


def floors(outcome: Outcome) -> dict[str, dict[str, float]]:
    """Healthy p99.9 per channel/hop, wall and office seconds, with the sample counts."""
    found: dict[str, dict[str, float]] = {}
    for name, values in outcome.healthy_wall.items():
        found[name] = {"p999_wall": round(quantile(values, 0.999), 1), "samples": len(values)}
        found[name]["max_wall"] = round(max(values), 1) if values else 0.0
    for name, values in outcome.healthy_office.items():
        found[name]["p999_office"] = round(quantile(values, 0.999), 1)
    return found


def expected_blame(route: Route, blamed: tuple[Hop, Owner]) -> tuple[Hop, Owner]:
    """The hop and owner a fault must be blamed on for ``route``: the first of the route's own needed
    hops at or after the hop the fault breaks. An Altinn route into a fagsystem needs neither fetched nor
    read (:func:`probe.hops.hops_until`): a person's fault there stops ``registered``, the vendor's hop."""
    needed = hops_until(route.channel, route.final_hop)
    if blamed[0] in needed:
        return blamed
    order = hops_of(route.channel)
    later = [hop for hop in needed if order.index(hop) > order.index(blamed[0])]
    hop = later[0] if later else route.final_hop
    return hop, owner_of(route.channel, hop)


def detections(outcome: Outcome, plan: FaultPlan, office: OfficeHours) -> list[dict[str, Any]]:
    """One entry per scored (fault, channel): detection, floor and whether the blame was right."""
    verdicts = Verdicts(outcome.canaries)
    tails = floors(outcome)
    routes = {route.key: route for route in outcome.routes}
    entries = []
    for municipality in {fault.municipality for fault in plan.faults}:
        previous_end = -math.inf
        for fault in plan.of(municipality):
            for channel, blamed in BLAME.get(fault.name, {}).items():
                route = routes.get((channel, municipality))
                if route is None or fault.start < outcome.start or fault.end > outcome.end:
                    continue
                hop, owner = expected_blame(route, blamed)
                key = (channel.value, municipality)
                human = hop in HUMAN_HOPS[channel]
                candidates = [
                    row
                    for row in verdicts.sent_between(key, previous_end, fault.end)
                    if row["verdict"] in UNDELIVERED and row["verdict_at"] >= fault.start
                ]
                first = min(candidates, key=lambda row: row["verdict_at"], default=None)
                sent = verdicts.first_sent(key, fault.start)
                tail = tails.get(f"{channel.value}/{hop.value}", {})
                entry: dict[str, Any] = {
                    "fault": fault.name.value,
                    "municipality": municipality,
                    "channel": channel.value,
                    "hop": hop.value,
                    "owner": owner.value,
                    "moment": fault.moment,
                    "start": fault.start,
                    "end": fault.end,
                    "detected": first is not None,
                    "right": first is not None
                    and (first["blamed_hop"], first["blamed_owner"]) == (hop.value, owner.value),
                    "blamed": [first["blamed_hop"], first["blamed_owner"]] if first is not None else None,
                    "clock": "office" if human else "wall",
                }
                if sent is not None:
                    wait = office.elapsed(fault.start, sent) if human else sent - fault.start
                    upper = tail.get("p999_office" if human else "p999_wall", 0.0)
                    entry["floor"] = wait + upper + route.poll_interval
                if first is not None:
                    at = first["verdict_at"]
                    entry["detection"] = office.elapsed(fault.start, at) if human else at - fault.start
                    if entry.get("floor"):
                        entry["ratio"] = entry["detection"] / entry["floor"]
                entries.append(entry)
            previous_end = fault.end
    return entries


def _loss_alerts(rows: Sequence[Mapping[str, Any]], timing: ChannelTiming) -> list[float]:
    """When a loss alert fires on these verdicts of one (route, hop, owner)."""
    times = sorted(row["verdict_at"] for row in rows)
    fired, held_since = [], None
    for earlier, later in itertools.pairwise(times):
        if later - earlier >= timing.loss_window:
            held_since = None
            continue
        start = later if held_since is None else held_since
        long_enough = earlier + timing.loss_window - start >= timing.route_for
        if long_enough and (held_since is None or not fired or fired[-1] < start):
            fired.append(start + timing.route_for)
        held_since = start
    return sorted(set(fired))


def false_pages(outcome: Outcome, plan: FaultPlan) -> dict[str, Any]:
    """False verdicts, simulated false critical alerts and overdue warnings on healthy routes."""
    timings = channel_timings(outcome.routes, PRODUCTION)
    false_rows: list[Mapping[str, Any]] = []
    unknown_at: dict[str, list[float]] = collections.defaultdict(list)
    signal_rows: collections.Counter[str] = collections.Counter()
    for row in outcome.canaries:
        fault = theirs(row, plan.of(row["municipality"]))
        if row["verdict"] == "unknown":
            unknown_at[f"{row['channel']}/{row['municipality']}"].append(row["verdict_at"])
        if row["verdict"] not in UNDELIVERED:
            continue
        if fault is None:
            false_rows.append(row)
        elif fault.name in SIGNALS:
            signal_rows[fault.name.value] += 1
    groups: dict[tuple[str, str, str, str], list[Mapping[str, Any]]] = collections.defaultdict(list)
    for lost in false_rows:
        if lost["blamed_owner"] != "ops":
            groups[(lost["channel"], lost["municipality"], lost["blamed_hop"], lost["blamed_owner"])].append(
                lost
            )
    loss_alerts = sum(len(_loss_alerts(rows, timings[Channel(key[0])])) for key, rows in groups.items())

    def near_fault(name: str, span: tuple[float, float]) -> bool:
        municipality = name.split("/")[1]
        return any(f.start <= span[1] and span[0] <= f.end + AFTER_EFFECT for f in plan.of(municipality))

    silences: list[dict[str, Any]] = []
    for name, spans in outcome.silent.items():
        timing = timings[Channel(name.split("/")[0])]
        for span in spans:
            if span[1] - span[0] < timing.silent_for or near_fault(name, span):
                continue
            if any(span[0] - timing.loss_window <= at <= span[1] for at in unknown_at.get(name, ())):
                continue
            silences.append({"route": name, "silent_from": span[0], "silent_until": span[1]})
    overdue = 0
    for name, spans in outcome.overdue.items():
        channel, municipality, _ = name.split("/")
        timing = timings[Channel(channel)]
        overdue += sum(
            1
            for span in spans
            if span[1] - span[0] >= timing.overdue_for and not near_fault(f"{channel}/{municipality}", span)
        )
    by_hop = collections.Counter(f"{r['channel']}/{r['blamed_hop']}/{r['blamed_owner']}" for r in false_rows)
    return {
        "verdicts": len(false_rows),
        "verdicts_by_hop": dict(sorted(by_hop.items())),
        "loss_alerts": loss_alerts,
        "silence_alerts": len(silences),
        "silence_examples": silences[:10],
        "overdue_warnings_healthy": overdue,
        "undelivered_in_signal_faults": dict(sorted(signal_rows.items())),
        "examples": [
            {
                k: row[k]
                for k in ("channel", "municipality", "vendor", "created_at", "verdict_at", "blamed_hop")
            }
            for row in false_rows[:10]
        ],
    }


def signals(outcome: Outcome, plan: FaultPlan) -> dict[str, Any]:
    """What the faults that must not page left: the verdicts of the canaries sent during them (unknown,
    never lost), duplicates and cleanup failures counted."""
    verdicts = Verdicts(outcome.canaries)
    counts: dict[str, Any] = {}
    for name in SIGNALS:
        faults = [f for f in plan.faults if f.name is name and f.end <= outcome.end]
        seen: collections.Counter[str] = collections.Counter()
        for fault in faults:
            for channel in Channel:
                for row in verdicts.sent_between((channel.value, fault.municipality), fault.start, fault.end):
                    seen[f"{channel.value}/{row['verdict']}"] += 1
        counts[name.value] = {
            "faults": len(faults),
            "verdicts_of_canaries_sent_during": dict(sorted(seen.items())),
        }
    totals = outcome.counters
    counts["duplicates_total"] = sum(v for k, v in totals.items() if k.startswith("kanari_duplicates_total"))
    counts["cleanup_failures_total"] = sum(
        v for k, v in totals.items() if k.startswith("kanari_cleanup_failures_total")
    )
    counts["late_arrivals_total"] = sum(
        v for k, v in totals.items() if k.startswith("kanari_late_arrivals_total")
    )
    return counts


def score(outcome: Outcome, plan: FaultPlan, office: OfficeHours) -> dict[str, Any]:
    """Everything the report says about one run."""
    entries = detections(outcome, plan, office)
    ratios: dict[str, list[float]] = collections.defaultdict(list)
    for entry in entries:
        if "ratio" in entry and entry["right"]:
            ratios[entry["channel"]].append(entry["ratio"])
            ratios[f"{entry['channel']}/{entry['hop']}"].append(entry["ratio"])
            ratios["all"].append(entry["ratio"])
    worst = max((e for e in entries if "ratio" in e and e["right"]), key=lambda e: e["ratio"], default=None)
    wrong = [e for e in entries if not e["right"]]
    by_kind = collections.Counter(e["fault"] for e in entries)
    return {
        "faults_scored": len(entries),
        "faults_scored_by_kind": dict(sorted(by_kind.items())),
        "faults_detected_right_owner_share": round(sum(e["right"] for e in entries) / len(entries), 4)
        if entries
        else 0.0,
        "detection_over_floor": {key: summary(values) for key, values in sorted(ratios.items())},
        "worst_case": worst,
        "missed_or_wrong": wrong[:20],
        "missed_or_wrong_count": len(wrong),
        "floors": floors(outcome),
        "false_pages": false_pages(outcome, plan),
        "signals": signals(outcome, plan),
    }
