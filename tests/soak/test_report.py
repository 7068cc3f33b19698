"""The short soak (``make test``): two weeks around Easter on 10 routes, the learned and the fixed
deadlines in two processes, every fault kind once; the results carry the contract's keys, every fault is
found with the right hop and owner near its floor, and no critical alert pages a healthy route.
``make soak`` runs the year."""

from __future__ import annotations

import json
from typing import Any

import pytest

from soak.__main__ import main
from soak.report import TARGETS
from soak.setup import routes_for

KEYS = (
    "false_pages",
    "detection_over_floor_mean_portal",
    "detection_over_floor_mean_altinn",
    "detection_over_floor_p95",
    "fixed_deadline_detection_over_floor_mean",
    "faults_detected_right_owner_share",
)


@pytest.fixture(scope="module")
def short_soak(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("soak")
    out = work / "results.json"
    arguments = ["--short", "--start", "2026-03-30", "--days", "14", "--per-kind", "1"]
    assert main([*arguments, "--work", str(work), "--out", str(out)]) == 0
    results: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return results


@pytest.mark.slow
@pytest.mark.usefixtures("untraced")
def test_two_weeks_around_easter_find_every_fault_near_its_floor(short_soak: dict[str, Any]) -> None:
    results = short_soak
    assert list(results)[: len(KEYS)] == list(KEYS)
    assert all(results[key] is not None for key in KEYS)
    assert set(results["configurations"]) == {"learned", "fixed"}
    assert results["simulated_days"] == 14
    learned = results["configurations"]["learned"]
    assert learned["faults_scored"] >= 11  # every kind that loses or fails canaries, once
    assert learned["signals"]["vendor.duplicate"]["faults"] == 1
    assert results["faults_detected_right_owner_share"] == 1.0, learned["missed_or_wrong"]
    assert results["detection_over_floor_mean_portal"] <= TARGETS["detection_over_floor_mean_portal"]
    assert results["detection_over_floor_mean_altinn"] <= TARGETS["detection_over_floor_mean_altinn"]
    assert results["detection_over_floor_p95"] <= TARGETS["detection_over_floor_p95"]
    # Today's fixed deadlines wait longer for the same faults.
    assert results["fixed_deadline_detection_over_floor_mean"] > results["detection_over_floor_mean_portal"]
    # No critical route alert (loss, silence) on a healthy route: the office-time silence limit holds
    # over Easter, and the fixed deadlines' night-time Altinn losses are what learning removes.
    assert learned["false_pages"]["loss_alerts"] == 0
    assert learned["false_pages"]["silence_alerts"] == 0
    assert results["configurations"]["fixed"]["false_pages"]["verdicts"] > learned["false_pages"]["verdicts"]


@pytest.mark.slow
@pytest.mark.usefixtures("untraced")
def test_no_lost_verdict_on_a_healthy_route(short_soak: dict[str, Any]) -> None:
    # Two days of history before a portal route trusts its slowest canary (the example configuration's
    # min_samples), and each hop stretched while its party is slow (probe.lifecycle.slowdown).
    assert short_soak["false_pages"] == TARGETS["false_pages"]


def test_a_configuration_must_be_known() -> None:
    with pytest.raises(ValueError, match="unknown configuration"):
        routes_for(None, "guessed")  # type: ignore[arg-type]
