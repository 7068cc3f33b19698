"""Transport faults between Kanari and each upstream, injected by a proxy on loopback: each gives the
documented verdict, blamed hop and owner, and no route using another upstream is disturbed.

Kanari's rules, which these tests pin down:

- a fault before the upstream could act (refused, DNS, TLS, an error answer) fails the send at
  ``accepted``: owner ``ks``/``digdir`` for the upstream's own failures, ``ops`` for Kanari's
  credentials (``auth``: no token);
- a fault after the upstream may have acted (reset mid-answer, a 2xx that does not parse) is never
  written off and never repeated: the canary is followed through read-back (portal) or looked up
  (Altinn), and is delivered if it arrived;
- a check that cannot look (timeouts, malformed or oversized answers) is a check failure; a canary
  whose missing hop could not be seen past its deadline is ``unknown``, never ``lost``;
- ``429`` is honoured: Kanari does not call that municipality again before ``Retry-After``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from probe.hops import Channel, Hop, Owner, Verdict
from tests.e2e.harness import Harness, harness
from tests.reliability.proxy import Fault

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

MUNICIPALITIES = (
    "4601,0301"  # nordlys (Maskinporten read-back) and fjordsys (static key): final hop registered
)
QUICK = {
    "channels": {"portal": {"timeout": "1s"}, "altinn": {"timeout": "1s"}},
    "readback": {"timeout": "1s"},
}


def verdicts(probe: Harness, channel: Channel) -> list[tuple[Verdict | None, Hop | None, str | None]]:
    return [
        (r.verdict, r.blamed_hop, r.blamed_owner.value if r.blamed_owner else None)
        for r in probe.records(channel)
        if r.verdict is not None
    ]


def assert_all(probe: Harness, channel: Channel, expected: tuple[Verdict, Hop | None, Owner | None]) -> None:
    found = verdicts(probe, channel)
    assert found, f"no verdict on {channel.value}"
    owner = expected[2].value if expected[2] else None
    assert set(found) == {(expected[0], expected[1], owner)}, found


def assert_delivered(probe: Harness, channel: Channel) -> None:
    assert_all(probe, channel, (Verdict.DELIVERED, None, None))


def failures(probe: Harness, name: str, **labels: str) -> float:
    families = {
        "send": "kanari_send_failures_total",
        "check": "kanari_check_failures_total",
    }
    total = 0.0
    for metric in probe.registry.collect():
        for sample in metric.samples:
            if sample.name == families[name] and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def test_connection_refused_fails_the_send_at_accepted_owned_by_ks(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("portal",)) as probe:
        await probe.proxies["portal"].close()  # nothing listens there any more
        await probe.run_for(150)
        assert_all(probe, Channel.PORTAL, (Verdict.FAILED, Hop.ACCEPTED, Owner.KS))
        assert failures(probe, "send", channel="portal", reason="connect") >= 2
        assert_delivered(probe, Channel.ALTINN)


async def test_dns_failure_fails_the_send_at_accepted_owned_by_ks(tmp_path: Path) -> None:
    unresolvable = {
        "channels": {"portal": {"base_url": "https://kanari-no-such-host.invalid/fiks/bekymringsmelding"}}
    }
    async with harness(tmp_path, MUNICIPALITIES, settings={**QUICK, **unresolvable}) as probe:
        await probe.run_for(150)
        assert_all(probe, Channel.PORTAL, (Verdict.FAILED, Hop.ACCEPTED, Owner.KS))
        assert failures(probe, "send", channel="portal", reason="connect") >= 2
        assert_delivered(probe, Channel.ALTINN)


async def test_reset_mid_answer_to_a_send_is_followed_through_read_back_and_never_resent(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("portal",)) as probe:
        probe.proxies["portal"].fault = Fault("reset", match=r"^POST .*/offentlig$")
        await probe.run_for(150)
        # KS took the report although the answer was cut: read-back shows it arrived.
        assert_delivered(probe, Channel.PORTAL)
        assert all(r.unconfirmed for r in probe.records(Channel.PORTAL) if r.verdict is not None)
        posts = [r for r in probe.proxies["portal"].seen if r.method == "POST"]
        assert len(posts) == len(probe.records(Channel.PORTAL))  # one POST per canary, never repeated
        # The proxy cuts the answer half-way, inside its headers: the connection was reset before a whole
        # answer arrived, the failure Kanari names `reset` (and never repeats for a portal POST).
        assert failures(probe, "send", channel="portal", reason="reset") >= 2
        assert_delivered(probe, Channel.ALTINN)


async def test_reset_mid_answer_on_altinn_is_looked_up_by_senders_reference(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("altinn",)) as probe:
        probe.proxies["altinn"].fault = Fault(
            "reset", match=r"^POST /altinn/correspondence/api/v1/correspondence$"
        )
        await probe.run_for(200)
        assert_delivered(probe, Channel.ALTINN)
        assert all(r.upstream_id for r in probe.records(Channel.ALTINN) if r.verdict is not None)
        assert_delivered(probe, Channel.PORTAL)


async def test_a_2xx_send_answer_that_does_not_parse_is_followed_not_written_off(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("portal",)) as probe:
        probe.proxies["portal"].fault = Fault("malformed", match=r"^POST .*/offentlig$")
        await probe.run_for(150)
        assert_delivered(probe, Channel.PORTAL)
        assert failures(probe, "send", channel="portal", reason="invalid_response") >= 2


async def test_status_checks_that_time_out_make_the_probe_blind_never_lost(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("portal",)) as probe:
        probe.proxies["portal"].fault = Fault("hang", match=r"^GET .*/status$")
        await probe.run_for(150)
        assert_all(probe, Channel.PORTAL, (Verdict.UNKNOWN, None, None))
        assert failures(probe, "check", channel="portal", target="portal", reason="timeout") >= 2
        assert probe.value("kanari_canaries_resolved_total", channel="portal", municipality="4601",
                           vendor="nordlys", verdict="lost") == 0  # fmt: skip
        assert_delivered(probe, Channel.ALTINN)


async def test_a_slow_trickle_within_the_timeout_is_not_a_failure(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("portal",)) as probe:
        probe.proxies["portal"].fault = Fault("trickle", chunk=32, delay=0.02, match=r"^GET .*/status$")
        await probe.run_for(150)
        assert_delivered(probe, Channel.PORTAL)
        assert failures(probe, "check", channel="portal") == 0


async def test_429_is_honoured_and_gives_unknown_not_a_failure_of_the_route(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("portal",)) as probe:
        probe.proxies["portal"].fault = Fault("status", status=429, headers={"Retry-After": "90"})
        await probe.run_for(300)
        assert_all(probe, Channel.PORTAL, (Verdict.UNKNOWN, None, None))
        assert failures(probe, "send", channel="portal", reason="rate_limited") >= 4
        # Each municipality is asked again only after its Retry-After: over 300 s with a canary a minute
        # and 90 s holds, at most one request per municipality per 90 s (plus the first) reached KS.
        assert len(probe.proxies["portal"].seen) <= 2 * (300 // 90 + 1)
        assert_delivered(probe, Channel.ALTINN)


async def test_a_burst_of_5xx_fails_those_sends_and_then_the_route_recovers(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("portal",)) as probe:
        probe.proxies["portal"].fault = Fault("burst", status=503, count=2, match=r"^POST")
        await probe.run_for(200)
        found = verdicts(probe, Channel.PORTAL)
        assert found.count((Verdict.FAILED, Hop.ACCEPTED, "ks")) == 2
        assert (Verdict.DELIVERED, None, None) in found
        assert {v for v, _, _ in found} == {Verdict.FAILED, Verdict.DELIVERED}
        assert_delivered(probe, Channel.ALTINN)


async def test_malformed_status_answers_are_check_failures_and_never_lost(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("portal",)) as probe:
        probe.proxies["portal"].fault = Fault("malformed", match=r"^GET .*/status$")
        await probe.run_for(150)
        assert_all(probe, Channel.PORTAL, (Verdict.UNKNOWN, None, None))
        assert failures(probe, "check", channel="portal", target="portal", reason="invalid_response") >= 2


async def test_unexpected_but_valid_new_status_values_are_tolerated(tmp_path: Path) -> None:
    def add_state(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [*history, {**history[0], "tilstand": "UNDER_MANUELL_KONTROLL", "beskrivelse": "ny tilstand"}]

    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("portal",)) as probe:
        probe.proxies["portal"].fault = Fault("rewrite", transform=add_state, match=r"^GET .*/status$")
        await probe.run_for(150)
        assert_delivered(probe, Channel.PORTAL)
        assert failures(probe, "check", channel="portal") == 0


async def test_a_huge_read_back_answer_is_refused_without_disturbing_other_vendors(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("readback:nordlys",)) as probe:
        probe.proxies["readback:nordlys"].fault = Fault(
            "huge", size=8 * 1024 * 1024, match=r"/canaries\?since="
        )
        await probe.run_for(150)
        nordlys = [r for r in probe.records(Channel.PORTAL, "4601") if r.verdict is not None]
        assert {r.verdict for r in nordlys} == {Verdict.UNKNOWN}
        assert failures(probe, "check", target="readback", reason="invalid_response") >= 2
        fjordsys = [r for r in probe.records(Channel.PORTAL, "0301") if r.verdict is not None]
        assert fjordsys
        assert {r.verdict for r in fjordsys} == {Verdict.DELIVERED}
        assert_delivered(probe, Channel.ALTINN)


async def test_token_endpoint_down_is_the_probes_own_failure_never_a_vendor_page(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=("maskinporten",)) as probe:
        probe.proxies["maskinporten"].fault = Fault("status", status=503)
        await probe.run_for(150)
        assert_all(probe, Channel.PORTAL, (Verdict.FAILED, Hop.ACCEPTED, Owner.OPS))
        assert_all(probe, Channel.ALTINN, (Verdict.FAILED, Hop.ACCEPTED, Owner.OPS))
        assert failures(probe, "send", reason="auth") >= 4
        for metric in probe.registry.collect():
            for sample in metric.samples:
                if sample.name == "kanari_undelivered_total" and sample.value:
                    assert sample.labels["owner"] == "ops", sample


def _other_ca(directory: Path) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Not the sandbox's CA")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path = directory / "other-ca.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(path)


async def test_tls_with_the_right_ca_delivers_and_with_a_wrong_ca_fails_on_the_probes_side(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path / "right", MUNICIPALITIES, settings=QUICK, tls=True) as probe:
        await probe.run_for(150)
        assert probe.sandbox.base_url.startswith("https://")
        assert_delivered(probe, Channel.PORTAL)
        assert_delivered(probe, Channel.ALTINN)
    (tmp_path / "wrong").mkdir()
    wrong = {**QUICK, "http": {"ca_bundle": _other_ca(tmp_path / "wrong")}}
    async with harness(tmp_path / "wrong", MUNICIPALITIES, settings=wrong, tls=True) as probe:
        await probe.run_for(150)
        # Verification stays on: nothing is sent, and since not even a token could be had over TLS,
        # the failure is on Kanari's side (owner ops), not KS's or Digdir's.
        assert_all(probe, Channel.PORTAL, (Verdict.FAILED, Hop.ACCEPTED, Owner.OPS))
        assert failures(probe, "send", reason="auth") >= 2
        assert probe.sandbox.world.ks is not None
