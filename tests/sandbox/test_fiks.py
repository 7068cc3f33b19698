"""KS's producer API: directory, keys, submission checks, and the status progression to LEVERT (or to paper
post) with the report then found by read-back."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import pkcs7

from probe.canary import cms
from probe.canary.asice import build_asice
from probe.canary.content import portal_report
from probe.sandbox.certs import verify_chain
from tests.sandbox.kit import Kit, municipality_of

pytestmark = pytest.mark.anyio

KS_ERROR_FIELDS = {"timestamp", "status", "error", "errorId", "path", "originalPath", "message"}
LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?$")
# Worst normal portal latency at speed 1 is 150 s (see probe.sandbox.delays).
PAST_WORST_PORTAL = 200


def assert_ks_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == KS_ERROR_FIELDS
    assert body["status"] == status
    assert body["originalPath"].startswith("/fiks/bekymringsmelding/")
    assert not body["path"].startswith("/fiks")
    return body


async def test_bydeler_lists_offices_with_one_default_receiver(kit: Kit) -> None:
    for version in ("v1", "v2"):
        oslo = await kit.fiks_get("kommuner/0301/bydeler", version)
        assert oslo.status_code == 200
        offices = oslo.json()
        assert len(offices) == 15
        assert sum(office["standardMottaker"] for office in offices) == 1
        assert set(offices[0]) == {"bydelsnummer", "bydelsnavn", "standardMottaker"}
    single = (await kit.fiks_get("kommuner/1508/bydeler")).json()
    assert single == [{"bydelsnummer": "00", "bydelsnavn": "Ålesund", "standardMottaker": True}]
    assert_ks_error(await kit.fiks_get("kommuner/9999/bydeler"), 404)


async def test_krypteringsnokler_are_certificates_with_local_times(kit: Kit) -> None:
    response = await kit.fiks_get("mottak/fagsystem/4601/02/krypteringsnokler")
    assert response.status_code == 200
    body = response.json()
    for field in ("printOffentligNokkel", "fiksIOOffentligNokkel"):
        key = body[field]
        assert set(key) == {"nokkel", "validFrom", "validTo", "serial", "subjectDN", "issuerDN"}
        assert key["nokkel"].startswith("-----BEGIN CERTIFICATE-----")
        assert LOCAL_TIME.match(key["validFrom"])
        assert LOCAL_TIME.match(key["validTo"])
    print_cert, fiks_cert = await kit.keys("4601", "02")
    other = (await kit.keys("4601", "03"))[1]
    assert fiks_cert != other  # one Fiks IO certificate per office
    ks_ca = kit.world.credentials.ks_ca.certificate
    assert verify_chain([fiks_cert], ks_ca, kit.clock.now()) == fiks_cert
    assert verify_chain([print_cert], ks_ca, kit.clock.now()) == print_cert
    assert_ks_error(await kit.fiks_get("mottak/fagsystem/4601/99/krypteringsnokler"), 404)


async def test_report_travels_to_levert_and_is_found_by_readback(kit: Kit) -> None:
    for kommunenummer in ("4601", municipality_of(kit, "fjordsys")):
        sent = await kit.send_report(kommunenummer)
        assert sent.response.status_code == 200, sent.response.text
        assert set(sent.response.json()) == {"uuid"}
        assert await kit.states(sent.report_id) == ["AKSEPTERT"]
        assert await kit.registered(kommunenummer) == []
        kit.advance(PAST_WORST_PORTAL)
        history = (await kit.status(sent.report_id)).json()
        assert [entry["tilstand"] for entry in history] == ["AKSEPTERT", "SENDT_FAGSYSTEM", "LEVERT"]
        assert all(entry["bekymringsmeldingId"] == sent.report_id for entry in history)
        assert all(LOCAL_TIME.match(entry["tidspunkt"]) for entry in history)
        assert await kit.registered(kommunenummer) == [sent.canary_id]


async def test_v1_report_validates_against_the_v1_schema(kit: Kit) -> None:
    sent = await kit.send_report("0301", version="v1")
    assert sent.response.status_code == 200
    kit.advance(PAST_WORST_PORTAL)
    assert (await kit.states(sent.report_id))[-1] == "LEVERT"


async def test_report_to_another_office_reaches_levert(kit: Kit) -> None:
    sent = await kit.send_report("0301", bydel="07")
    kit.advance(PAST_WORST_PORTAL)
    assert (await kit.states(sent.report_id))[-1] == "LEVERT"


async def test_progression_is_the_same_however_often_it_is_observed(kit: Kit) -> None:
    watched = await kit.send_report("4601")
    unwatched = await kit.send_report("4601")
    for _ in range(40):
        kit.advance(5)
        await kit.states(watched.report_id)
    watched_history = (await kit.status(watched.report_id)).json()
    assert [entry["tilstand"] for entry in watched_history][-1] == "LEVERT"
    assert (await kit.states(unwatched.report_id))[-1] == "LEVERT"


async def test_print_part_that_does_not_decrypt_is_refused_synchronously(kit: Kit) -> None:
    print_cert, fiks_cert = await kit.keys("4601", "02")
    # Encrypted for the fagsystem's certificate instead of KS's print certificate.
    wrong = cms.encrypt(b"%PDF-1.4 not for KS", fiks_cert)
    body = assert_ks_error((await kit.send_report("4601", pdf_part=wrong)).response, 400)
    assert "print" in body["message"]
    garbage = assert_ks_error((await kit.send_report("4601", pdf_part=b"not cms at all")).response, 400)
    assert garbage["errorId"] != body["errorId"]
    not_pdf = cms.encrypt(b"plain text", print_cert)
    assert_ks_error((await kit.send_report("4601", pdf_part=not_pdf)).response, 400)


async def test_missing_part_and_oversize_payload(kit: Kit) -> None:
    print_cert, _ = await kit.keys("4601", "02")
    only_pdf = {
        "bekymringsmelding": (
            "bekymringsmelding.pdf",
            cms.encrypt(b"%PDF-1.4", print_cert),
            "application/pdf",
        )
    }
    body = assert_ks_error((await kit.send_report("4601", parts=only_pdf)).response, 400)
    assert body["message"] == "Required part 'asice' is not present."
    huge = {
        "bekymringsmelding": ("bekymringsmelding.pdf", b"x" * (3 * 1024 * 1024), "application/octet-stream"),
        "asice": ("asice.zip", b"y" * (3 * 1024 * 1024), "application/octet-stream"),
    }
    assert_ks_error((await kit.send_report("4601", parts=huge)).response, 413)
    response = await kit.http.post(
        kit.fiks_url(f"mottak/fagsystem/{kit.manifest.portal.fiks_org_id}/4601/02/offentlig"),
        headers=await kit.fiks_headers() | {"Content-Type": "application/json"},
        content=b"{}",
    )
    assert_ks_error(response, 415)


async def test_tampered_asice_is_rejected_by_the_fagsystem_and_goes_to_print(kit: Kit) -> None:
    print_cert, fiks_cert = await kit.keys("4601", "02")
    # The wrong municipality's certificate: KS cannot tell, the fagsystem cannot decrypt.
    _, other_cert = await kit.keys("0301", "01")
    kit_subject = kit.subject("4601")
    container = build_asice(
        {
            "bekymringsmelding.json": json.dumps(portal_report(kit_subject)).encode(),
            "bekymringsmelding.pdf": b"%PDF-1.4",
        }
    )
    wrong_recipient = await kit.send_report("4601", keys=(print_cert, other_cert), asice=container)
    tampered_cipher = bytearray(cms.encrypt(container, fiks_cert))
    tampered_cipher[-40] ^= 0xFF
    tampered = await kit.send_report(
        "4601",
        parts={
            "bekymringsmelding": (
                "bekymringsmelding.pdf",
                cms.encrypt(b"%PDF-1.4", print_cert),
                "application/pdf",
            ),
            "asice": ("asice.zip", bytes(tampered_cipher), "application/octet-stream"),
        },
    )
    invalid_json = dict(portal_report(kit.subject("4601")))
    del invalid_json["offentligBarn"]
    schema_invalid = await kit.send_report("4601", document=invalid_json)
    misaddressed = await kit.send_report("4601", document=portal_report(kit.subject("0301")))
    not_a_container = await kit.send_report("4601", asice=b"PK\x03\x04 not really a zip")
    reports = [wrong_recipient, tampered, schema_invalid, misaddressed, not_a_container]
    for sent in reports:
        assert sent.response.status_code == 200, sent.response.text
    kit.advance(PAST_WORST_PORTAL)
    for sent in reports:
        states = await kit.states(sent.report_id)
        assert states[:3] == ["AKSEPTERT", "SENDT_FAGSYSTEM", "AVVIST_FAGSYSTEM"]
        assert "LEVERT" not in states
    kit.advance(400)  # KS's print fallback takes up to 300 s
    for sent in reports:
        assert (await kit.states(sent.report_id))[-2:] == ["AVVIST_FAGSYSTEM", "SENDT_PRINT"]
    assert await kit.registered("4601") == []
    rejection = (await kit.status(schema_invalid.report_id)).json()[2]["beskrivelse"]
    assert "offentligBarn" in rejection


async def test_authentication_and_authorisation(kit: Kit) -> None:
    url = kit.fiks_url("kommuner/4601/bydeler")
    headers = await kit.fiks_headers()
    assert_ks_error(
        await kit.http.get(url, headers={k: v for k, v in headers.items() if k != "Authorization"}), 401
    )
    wrong_password = headers | {"IntegrasjonPassord": "feil"}
    assert_ks_error(await kit.http.get(url, headers=wrong_password), 401)
    wrong_id = headers | {"IntegrasjonId": "00000000-0000-0000-0000-000000000000"}
    assert_ks_error(await kit.http.get(url, headers=wrong_id), 401)
    altinn_scope = headers | {"Authorization": f"Bearer {await kit.token('altinn:correspondence.write')}"}
    assert_ks_error(await kit.http.get(url, headers=altinn_scope), 403)
    altinn_token = headers | {"Authorization": f"Bearer {await kit.altinn_token()}"}
    assert_ks_error(await kit.http.get(url, headers=altinn_token), 401)
    other_org = await kit.send_report("4601", fiks_org_id="11111111-2222-3333-4444-555555555555")
    assert_ks_error(other_org.response, 403)
    sent = await kit.send_report("4601")
    other_status = await kit.fiks_get(
        f"mottak/fagsystem/11111111-2222-3333-4444-555555555555/bekymringsmelding/{sent.report_id}/status"
    )
    assert_ks_error(other_status, 403)
    assert_ks_error(await kit.fiks_get("kommuner/4601/bydeler", version="v3"), 404)


async def test_expired_token_is_refused(kit: Kit) -> None:
    headers = await kit.fiks_headers()
    kit.advance(121)
    assert_ks_error(await kit.http.get(kit.fiks_url("kommuner/4601/bydeler"), headers=headers), 401)


async def test_unknown_report_status_is_404(kit: Kit) -> None:
    assert_ks_error(await kit.status("3f7c1d57-0000-4000-8000-000000000000"), 404)


async def test_ks_print_certificate_decrypts_what_kanari_encrypts(kit: Kit) -> None:
    print_cert, _ = await kit.keys("4601", "02")
    pki = kit.world.pki
    blob = cms.encrypt(b"%PDF-1.7 test", print_cert)
    assert pkcs7.pkcs7_decrypt_der(blob, pki.print_certificate, pki.print_key, []) == b"%PDF-1.7 test"
