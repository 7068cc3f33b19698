"""``kanari evidence CANARY_ID``: one canary's whole story from the ledger, for a vendor searching its own
system and an operator in a dispute.

It shows the route, every hop with its time and latency, the upstream's id (KS's report id, Altinn's
correspondence id), the status history as the upstream last reported it, what read-back answered
(registered, when, duplicated), the verdict with its blamed hop and owner, what the upstreams said
(diagnostics), the marker and whether its signature verifies, and the route's incident when the canary
was sent inside one's exposure window. Never a secret and never the report itself (only the marker,
which is in the report for anyone who receives it to verify).

The marker is verified with public keys only: ``signing.previous_public_keys`` of the configuration and,
with ``--jwks FILE``, the key set the probe publishes (``/.well-known/kanari/keys.json``). The current
signing key is a secret and is not read: without a public key for the marker's ``kid`` the answer is
"not verified: no key". Read-only, like ``kanari status``: exit 1 when the ledger has no such canary,
2 when the ledger or configuration cannot be used.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from probe.canary.marker import MarkerVerifier, public_keys_from_jwks
from probe.cli.common import add_config_argument, load_or_explain, open_ledger_read_only, warn_if_incomplete
from probe.cli.exits import Exit
from probe.cli.incidents import as_json as incident_json
from probe.cli.logformat import tell
from probe.cli.timestamps import both
from probe.config.keyfiles import load_public_key
from probe.config.loader import KanariConfig
from probe.errors import ConfigError, LedgerError, MarkerError
from probe.hops import Channel, Hop, hops_of, hops_until
from probe.lifecycle.incident import Incident
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.status_history import decode

# What each channel calls the id its upstream gave the canary.
UPSTREAM_ID = {Channel.PORTAL: "KS report id (bekymringsmelding uuid)", Channel.ALTINN: "correspondence id"}
# A canary id is shown back only in this shape (it comes from the command line).
_SHOWN_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
# Verifying a stored marker asks whether Kanari signed it, not whether it is fresh now.
_ANY_AGE = float("inf")


def add_commands(commands: Any) -> None:
    """Register ``evidence``."""
    parser = commands.add_parser(
        "evidence", help="one canary's full story from the ledger (hops, ids, marker)"
    )
    parser.add_argument("canary_id", metavar="CANARY_ID", help="the canary's id (a UUID)")
    add_config_argument(parser)
    parser.add_argument(
        "--jwks",
        type=Path,
        metavar="FILE",
        help="the probe's published marker keys (/.well-known/kanari/keys.json) to verify the marker with",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document (stable keys) for scripts")
    parser.set_defaults(handler=command_evidence)


def command_evidence(arguments: argparse.Namespace) -> int:
    """``kanari evidence``."""
    config = load_or_explain(arguments.config, secrets=False)
    if config is None:
        return Exit.USAGE
    try:
        keys = previous_keys(config)
    except ConfigError as error:
        tell(f"kanari evidence: signing.previous_public_keys: {error}", level=logging.ERROR)
        return Exit.USAGE
    if arguments.jwks is not None:
        try:
            keys.update(public_keys_from_jwks(json.loads(arguments.jwks.read_text(encoding="utf-8"))))
        except (MarkerError, OSError, ValueError) as error:
            problem = error.strerror if isinstance(error, OSError) else str(error)
            tell(f"kanari evidence: --jwks {arguments.jwks}: {problem}", level=logging.ERROR)
            return Exit.USAGE
    try:
        ledger = open_ledger_read_only(config, "kanari-evidence")
        try:
            record = ledger.canary(arguments.canary_id)
            incidents = (
                ledger.incidents(channel=record.channel, municipality=record.municipality) if record else []
            )
        finally:
            ledger.close()
    except LedgerError as error:
        tell(f"kanari evidence: {error}", level=logging.ERROR)
        return Exit.USAGE
    warn_if_incomplete(ledger)
    if record is None:
        asked = arguments.canary_id if _SHOWN_ID.fullmatch(arguments.canary_id) else "(not a canary id)"
        tell(f"kanari evidence: the ledger has no canary {asked}", level=logging.ERROR)
        return Exit.FAILED
    story = evidence(config, record, incidents, keys)
    print(json.dumps(story, indent=2, ensure_ascii=False) if arguments.json else render_text(story))
    return Exit.OK


def previous_keys(config: KanariConfig) -> dict[str, Ed25519PublicKey]:
    """The earlier marker keys of the configuration (public halves: no secret is read)."""
    return {
        previous.key_id: load_public_key(config.path(previous.public_key_file))
        for previous in config.settings.signing.previous_public_keys
    }


def verification(record: CanaryRecord, keys: dict[str, Ed25519PublicKey]) -> dict[str, object]:
    """Whether the canary's marker is Kanari's signature over this canary."""
    if not keys:
        return {"verified": False, "result": "not verified: no key (give --jwks FILE)"}
    try:
        payload = MarkerVerifier(keys, _ANY_AGE).verify(record.marker, record.created_at)
    except MarkerError as error:
        if "unknown key id" in str(error):
            return {"verified": False, "result": f"not verified: no key ({error})"}
        return {"verified": False, "result": f"INVALID: {error}"}
    named = (payload.canary_id, payload.channel, payload.kommunenummer)
    if named != (record.id, record.channel.value, record.municipality):
        return {
            "verified": False,
            "result": "INVALID: the marker names another canary",
            "key_id": payload.key_id,
        }
    return {
        "verified": True,
        "result": f"verified: signed with key {payload.key_id}, names this canary and route",
        "key_id": payload.key_id,
        **both("issued_at", payload.issued_at),
    }


def _hops(record: CanaryRecord) -> list[dict[str, object]]:
    needed = hops_until(record.channel, record.final_hop)
    listed = [hop for hop in hops_of(record.channel) if hop in needed or hop in record.hops]
    return [
        {
            "hop": hop.value,
            "needed": hop in needed,
            **both("reached_at", record.hops.get(hop)),
            "seconds_after_send": round(record.hops[hop] - record.created_at, 3)
            if hop in record.hops
            else None,
            **both("due_at", record.due.get(hop, record.deadline_at) if hop in needed else None),
        }
        for hop in listed
    ]


def _incident(record: CanaryRecord, incidents: list[Incident]) -> Incident | None:
    """The route's incident whose exposure window holds the canary's send time (or that it opened)."""
    for incident in incidents:
        end = incident.exposure_end if incident.exposure_end is not None else float("inf")
        if incident.first_canary == record.id or incident.exposure_start <= record.created_at <= end:
            return incident
    return None


def evidence(
    config: KanariConfig, record: CanaryRecord, incidents: list[Incident], keys: dict[str, Ed25519PublicKey]
) -> dict[str, object]:
    """The JSON document of one canary's evidence."""
    route = next((r for r in config.routes if r.key == record.route_key), None)
    incident = _incident(record, incidents)
    return {
        "canary_id": record.id,
        "route": f"{record.channel.value}/{record.municipality}",
        "channel": record.channel.value,
        "municipality": record.municipality,
        "municipality_name": route.municipality_name if route else None,
        "vendor": record.vendor,
        "bydel": record.bydel,
        "final_hop": record.final_hop.value,
        "api_version": record.api_version,
        "state": record.state.value,
        **both("sent_at", record.created_at),
        **both("deadline_at", record.deadline_at),
        "upstream": {
            "kind": UPSTREAM_ID[record.channel],
            "id": record.upstream_id,
            "unconfirmed": record.unconfirmed,
            "last_status": record.last_status,
            **both("last_looked_at", record.status_ok_at),
        },
        "hops": _hops(record),
        "status_history": [
            {**both("at", at), "status": status, "text": text} for at, status, text in decode(record.history)
        ],
        "readback": {
            "registered": Hop.REGISTERED in record.hops,
            **both("registered_at", record.hops.get(Hop.REGISTERED)),
            "duplicate": record.duplicate,
            **both("last_looked_at", record.readback_ok_at),
            **both("cleaned_at", record.cleaned_at),
            **both("cleanup_abandoned_at", record.cleanup_failed_at),
        },
        "verdict": {
            "verdict": record.verdict.value if record.verdict else None,
            **both("at", record.verdict_at),
            "blamed_hop": record.blamed_hop.value if record.blamed_hop else None,
            "blamed_owner": record.blamed_owner.value if record.blamed_owner else None,
            **both("late_arrival_at", record.late_at),
            "send_failure": record.failure_reason,
        },
        "diagnostics": record.diagnostics,
        "marker": {"value": record.marker, **verification(record, keys)},
        "incident": incident_json(incident, route.municipality_name if route else None) if incident else None,
    }


def render_text(story: dict[str, Any]) -> str:
    """The evidence for people: one fact per line, times in UTC."""
    upstream, readback, verdict, marker = (
        story["upstream"],
        story["readback"],
        story["verdict"],
        story["marker"],
    )
    name = f" ({story['municipality_name']})" if story["municipality_name"] else ""
    lines = [
        f"canary      {story['canary_id']}",
        f"route       {story['route']}{name}, vendor {story['vendor']}, final hop {story['final_hop']}"
        + (f", version {story['api_version']}" if story["api_version"] else ""),
        f"sent        {story['sent_at']}  (deadline {story['deadline_at']})",
        f"{upstream['kind']}: {upstream['id'] or '-'}"
        + ("  (send unconfirmed)" if upstream["unconfirmed"] else ""),
        "hops:",
    ]
    for hop in story["hops"]:
        when = (
            f"{hop['reached_at']}  +{hop['seconds_after_send']:.1f} s" if hop["reached_at"] else "not reached"
        )
        lines.append(f"  {hop['hop']:<11} {when}" + ("" if hop["needed"] else "  (not needed)"))
    lines.append(f"status history ({upstream['last_status'] or 'none seen'}):")
    lines += [
        f"  {entry['at']}  {entry['status']}  {entry['text']}".rstrip() for entry in story["status_history"]
    ]
    if not story["status_history"]:
        lines.append("  -")
    registered = readback["registered_at"] or "not registered"
    lines.append(f"read-back   {registered}" + ("  DUPLICATE registration" if readback["duplicate"] else ""))
    blamed = f" at {verdict['blamed_hop']} (owner {verdict['blamed_owner']})" if verdict["blamed_hop"] else ""
    judged = f" ({verdict['at']})" if verdict["at"] else ""
    lines.append(f"verdict     {verdict['verdict'] or 'none yet'}{blamed}{judged}")
    if verdict["late_arrival_at"]:
        lines.append(f"late        arrived after the deadline, seen {verdict['late_arrival_at']}")
    if verdict["send_failure"]:
        lines.append(f"send        failed: {verdict['send_failure']}")
    lines.append(f"upstreams   {story['diagnostics'] or '-'}")
    lines.append(f"marker      {marker['value']}")
    lines.append(f"            {marker['result']}")
    incident = story["incident"]
    if incident is None:
        lines.append("incident    none")
    else:
        until = incident["exposure_end"] or "still open"
        lines.append(
            f"incident    {incident['id']} ({incident['status']}), blamed "
            f"{incident['hop']}/{incident['owner']}: reports sent {incident['exposure_start']} to {until} "
            f"may be lost; KS holds them until {incident['retained_until']}"
        )
    return "\n".join(lines)
