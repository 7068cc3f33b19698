"""Alerts about the probe itself: no replica leading, a replica down, two leading, scheduler stuck,
ledger unwritable,
keys and certificates nearing expiry, and the always-firing ``KanariWatchdog``.

Kanari may run as one replica (SQLite) or as a leader and standbys (PostgreSQL). Only the leader sends,
ticks the heartbeat and exposes the ledger-derived series; every replica exposes ``kanari_leader``
(1 on the leader, 0 on a standby). So the probe is *down* when no replica of the job leads (none up, the
job gone from service discovery, or every replica a standby), never because one of two replicas is: a
standby that is down is a warning.
"""

from __future__ import annotations

from probe.config.keys import EXPIRY_WARNING_DAYS
from probe.config.loader import KanariConfig
from probe.hops import Owner
from probe.render.alerts.model import PROBE_WIDE, Alert
from probe.render.durations import prom_duration
from probe.render.links import Dashboard
from probe.render.promql import by, number, selector
from probe.render.timing import Timing

# Keys and certificates: a ticket 30 days ahead (the same horizon as `kanari config check`'s warning:
# ordering a business certificate, receiving it and registering it with KS and Maskinporten takes
# weeks), a page 7 days ahead (the least in which an emergency renewal is still possible; after expiry
# Maskinporten refuses the grant and receiving systems the signature, and every route goes dark).
KEY_CRITICAL_DAYS = 7
KEY_EXPIRY_DAYS = {"warning": EXPIRY_WARNING_DAYS, "critical": KEY_CRITICAL_DAYS}
# The expiry is a constant gauge: ten minutes of for: only rides out a restart's scrape gap.
KEY_EXPIRY_FOR = 600.0
# Two leaders in one job: fencing keeps a second one off a shared PostgreSQL ledger, so this is two
# ledgers (two deployments, SQLite replicas on separate volumes). Ten minutes: longer than a leader cut
# off from its database takes to stop by its own clock and leave (a lease of at most 5 minutes).
SPLIT_BRAIN_FOR = 600.0


def probe_alerts(timing: Timing, config: KanariConfig) -> list[Alert]:
    """Alerts about the probe itself (see the module docstring)."""
    job = config.settings.alerting.job
    probe = {"channel": PROBE_WIDE, "owner": Owner.OPS.value, "scope": "probe"}
    up = selector("up", f'job="{job}"')
    stale = prom_duration(timing.scaled(timing.heartbeat_stale_after))
    stale_seconds = number(timing.scaled(timing.heartbeat_stale_after))
    down_for = prom_duration(timing.scaled(timing.probe_down_for))
    alerts = [
        Alert(
            # No series of a leading replica: every target down (its series go stale), the job absent,
            # or all replicas standing by. One replica of two down is KanariReplicaDown.
            name="KanariProbeDown",
            expr="absent(kanari_leader == 1)",
            for_=timing.scaled(timing.probe_down_for),
            labels={**probe, "severity": "critical"},
            summary="Kanari is down: no replica leads",
            description=(
                f"For {down_for} no replica of job {job} has been scraped as the leader (every target "
                "down or gone from service discovery, or every replica a standby). No route is being "
                "monitored; Kanari's other alerts of this job are inhibited while this fires."
            ),
            dashboard=Dashboard.PROBE,
        ),
        Alert(
            name="KanariReplicaDown",
            expr=f"{up} == 0\nand on ()\nmax(kanari_leader) == 1",
            for_=timing.scaled(timing.probe_down_for),
            labels={**probe, "severity": "warning"},
            summary="A Kanari replica is down ({{ $labels.instance }}); another one leads",
            description=(
                f"Prometheus has not scraped {{{{ $labels.instance }}}} of job {job} for {down_for}, "
                "while another replica leads and sends. Nothing is missed now, but there is no standby "
                "to take over if the leader fails."
            ),
            dashboard=Dashboard.PROBE,
        ),
        Alert(
            name="KanariSplitBrain",
            expr="sum(kanari_leader) > 1",
            for_=timing.scaled(SPLIT_BRAIN_FOR),
            labels={**probe, "severity": "critical"},
            summary="{{ $value }} Kanari replicas lead at once: every canary is sent more than once",
            description=(
                f"{{{{ $value }}}} replicas of job {job} have each led for "
                f"{prom_duration(timing.scaled(SPLIT_BRAIN_FOR))}. One ledger lets only one replica lead, "
                "so they use different ledgers: each sends its own canaries to every municipality, and "
                "every sum over the job counts them all. Stop all but one deployment, or point them at "
                "one PostgreSQL ledger."
            ),
            dashboard=Dashboard.PROBE,
        ),
        Alert(
            # The heartbeat is the leader's only (a standby does not tick): the newest over the job.
            name="KanariHeartbeatStale",
            expr=f"time() - max(kanari_heartbeat_timestamp_seconds) > {stale_seconds}",
            for_=timing.scaled(timing.heartbeat_for),
            labels={**probe, "severity": "critical"},
            summary="Kanari's scheduler has stopped ticking",
            description=(
                "The probe answers scrapes but its scheduler last ticked {{ $value | humanizeDuration }} "
                f"ago (it ticks every second; the threshold is {stale}). No canary is sent or followed; "
                "Kanari's other alerts of this job are inhibited while this fires."
            ),
            dashboard=Dashboard.PROBE,
        ),
        Alert(
            name="KanariLedgerUnwritable",
            expr=f"max {by('instance')} (kanari_ledger_writable) == 0",
            for_=timing.scaled(timing.probe_down_for),
            labels={**probe, "severity": "critical"},
            summary="Kanari cannot write its ledger: no canary is sent",
            description=(
                f"The probe's last ledger write failed and it has not written since, for {down_for} "
                "(a full disk, an I/O error, a read-only file system). Nothing is sent while it lasts and "
                "/readyz says not ready; what the probe sees meanwhile is written once the ledger takes "
                "writes again. Routes fall silent: free the disk first."
            ),
            dashboard=Dashboard.PROBE,
        ),
    ]
    for severity, days in KEY_EXPIRY_DAYS.items():
        alerts.append(
            Alert(
                # Every replica loads the same keys: the earliest expiry per key over the job.
                name="KanariKeyExpiring",
                expr=(f"min {by('key')} (kanari_key_expiry_timestamp_seconds) - time()\n< {days * 86400}"),
                for_=timing.scaled(KEY_EXPIRY_FOR),
                labels={**probe, "severity": severity},
                summary="Kanari's {{ $labels.key }} expires in {{ $value | humanizeDuration }}",
                description=(
                    "The certificate of Kanari's {{ $labels.key }} key (the earliest in its chain) expires "
                    f"in {{{{ $value | humanizeDuration }}}}, within {days} days. Then Maskinporten "
                    "refuses Kanari's grants or receiving systems its signature, and every route it "
                    "serves goes dark: renew it and register the new one (KS, Maskinporten)."
                ),
                dashboard=Dashboard.PROBE,
            )
        )
    alerts.append(
        Alert(
            name="KanariWatchdog",
            expr="vector(1)",
            for_=None,
            labels={**probe, "severity": "none"},
            summary="Kanari's alerting pipeline heartbeat (always firing)",
            description=(
                "This alert always fires. The heartbeat receiver (a dead man's switch) raises the alarm "
                "when it stops arriving: then Prometheus, Alertmanager or the path between them is broken."
            ),
            dashboard=Dashboard.PROBE,
        )
    )
    return alerts


def pipeline_alerts(timing: Timing, config: KanariConfig) -> list[Alert]:
    """Alerts about the monitoring Kanari's alerts travel through: Alertmanager failing to deliver,
    Prometheus failing to evaluate Kanari's rule groups."""
    alerting = config.settings.alerting
    probe = {"channel": PROBE_WIDE, "owner": Owner.OPS.value, "scope": "probe"}
    window = timing.scaled(PIPELINE_WINDOW)
    span = f"[{prom_duration(window)}]"
    # Alertmanager 0.28 and later label the counter with the receiver: then only Kanari's receivers
    # (all named kanari-...) count. Older ones have no such label (the empty value matches), and any
    # failure of that Alertmanager counts: it cannot say whose.
    failed = selector(
        "alertmanager_notifications_failed_total",
        f'job="{alerting.alertmanager_job}"',
        'receiver_name=~"kanari-.+|"',
    )
    evaluations = selector(
        "prometheus_rule_evaluation_failures_total", f'rule_group=~"{own_rule_groups(alerting.job)}"'
    )
    return [
        Alert(
            name="KanariAlertmanagerFailing",
            expr=f"sum {by('instance', 'integration')} (increase({failed}{span})) > 0",
            for_=timing.scaled(PIPELINE_FOR),
            labels={**probe, "severity": "critical"},
            summary=(
                "Alertmanager {{ $labels.instance }} fails to deliver {{ $labels.integration }} notifications"
            ),
            description=(
                f"{{{{ $value | humanize }}}} {{{{ $labels.integration }}}} notifications failed in the last "
                f"{prom_duration(window)} (job {alerting.alertmanager_job}). Someone Kanari pages (a "
                "vendor's webhook, a municipality's mailbox, the operations centre) is not hearing about "
                "broken routes: find the receiver in Alertmanager's log and fix its address or relay."
            ),
            dashboard=Dashboard.PROBE,
        ),
        Alert(
            name="KanariRuleEvaluationFailing",
            expr=f"sum {by('rule_group')} (increase({evaluations}{span})) > 0",
            for_=timing.scaled(PIPELINE_FOR),
            labels={**probe, "severity": "critical"},
            summary="Prometheus fails to evaluate Kanari's rule group {{ $labels.rule_group }}",
            description=(
                f"{{{{ $value | humanize }}}} evaluations of {{{{ $labels.rule_group }}}} failed in the last "
                f"{prom_duration(window)}: its alerts cannot fire. Prometheus' log names the rule and the "
                "error (often many-to-many matching after a label change, or a query limit)."
            ),
            dashboard=Dashboard.PROBE,
        ),
    ]


# A failure stays in the 15-minute window long enough for 5 minutes of for: to see it, whatever the
# scrape and evaluation intervals; one failed notification is enough (Alertmanager retried it already).
PIPELINE_WINDOW = 900.0
PIPELINE_FOR = 300.0


def group_name(job: str, part: str) -> str:
    """A rule group's name (``kanari.routes``): the job first, so two deployments' groups differ in one
    Prometheus and each watches only its own evaluations."""
    return f"{job}.{part}"


def own_rule_groups(job: str) -> str:
    """The ``rule_group`` regular expression of this job's groups (the label is ``<file>;<group>``)."""
    return ".+;" + group_name(job, "").replace(".", "[.]") + ".+"
