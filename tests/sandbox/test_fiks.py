"""KS's producer API: directory (with each office's supported version), keys, submission checks, and the
status progression to LEVERT (directly, or after paper post) with the report then found by read-back."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from probe.canary import cms
from probe.canary.asice import build_asice
from probe.canary.content import portal_report
from probe.sandbox.certs import verify_chain
from probe.sandbox.envelope import KeyTransport, open_envelope
from probe.sandbox.ks import POSTED_DESCRIPTION
from tests.sandbox.kit import Kit, municipality_of

pytestmark = pytest.mark.anyio

KS_ERROR_FIELDS = {"timestamp", "status", "error", "errorId", "path", "originalPath", "message"}
LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?$")
# Worst normal portal latency at speed 1 is 150 s (see probe.sandbox.delays).
PAST_WORST_PORTAL = 200
# KS's print fallback and the letter's hand-over to the post take up to 300 s each at speed 1.
PAST_WORST_PAPER_POST = 700


def assert_ks_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == KS_ERROR_FIELDS
    assert body["status"] == status
    assert body["originalPath"].startswith("/fiks/bekymringsmelding/")
    assert not body["path"].startswith("/fiks")
    return body


def pkcs1v15_envelope(data: bytes, certificate: Any) -> bytes:
    """CMS EnvelopedData with RSAES-PKCS1-v1_5 key transport (all ``cryptography`` makes): what an older
    producer sends instead of KS's OAEP."""
    return (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(data)
        .add_recipient(certificate)
        .set_content_encryption_algorithm(algorithms.AES256)
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


async def test_bydeler_lists_offices_with_one_default_receiver(kit: Kit) -> None:
    for version in ("v1", "v2"):
        oslo = await kit.fiks_get("kommuner/0301/bydeler", version)
        assert oslo.status_code == 200
        offices = oslo.json()
        assert len(offices) == 15
        assert sum(office["standardMottaker"] for office in offices) == 1
    single = (await kit.fiks_get("kommuner/1508/bydeler")).json()
    assert single == [
        {"bydelsnummer": "00", "bydelsnavn": "Ålesund", "standardMottaker": True, "stottetVersjon": 2}
    ]
    assert_ks_error(await kit.fiks_get("kommuner/9999/bydeler"), 404)


async def test_v2_bydeler_say_which_version_each_office_supports_and_v1_does_not(kit: Kit) -> None:
    v2 = (await kit.fiks_get("kommuner/0301/bydeler", "v2")).json()
    v1 = (await kit.fiks_get("kommuner/0301/bydeler", "v1")).json()
    assert all(set(office) == {"bydelsnummer", "bydelsnavn", "standardMottaker"} for office in v1)
    assert [{k: v for k, v in office.items() if k != "stottetVersjon"} for office in v2] == v1
    versions = {office["bydelsnummer"]: office["stottetVersjon"] for office in v2}
    assert versions["01"] == 2  # the default receiver
    assert versions["03"] == 1  # Sagene's fagsystem is not upgraded (probe.sandbox.assignment)
    assert all(isinstance(version, int) for version in versions.values())
    legacy = municipality_of(kit, "nordlys", stottet_versjon=1)
    assert (await kit.fiks_get(f"kommuner/{legacy}/bydeler")).json()[0]["stottetVersjon"] == 1


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


async def test_status_times_are_oslo_local_time_to_the_millisecond(kit: Kit) -> None:
    kit.clock.set(1_767_225_600.25)  # 2026-01-01T00:00:00.250Z, 01:00 in Oslo (winter time)
    sent = await kit.send_report("4601")
    history = (await kit.status(sent.report_id)).json()
    assert history[0]["tidspunkt"] == "2026-01-01T01:00:00.250"
    kit.clock.set(1_782_864_000.0)  # 2026-07-01T00:00:00Z, 02:00 in Oslo (summer time)
    later = await kit.send_report("4601")
    assert (await kit.status(later.report_id)).json()[0]["tidspunkt"] == "2026-07-01T02:00:00.000"


async def test_v1_report_validates_against_the_v1_schema(kit: Kit) -> None:
    sent = await kit.send_report("0301", version="v1")
    assert sent.response.status_code == 200
    kit.advance(PAST_WORST_PORTAL)
    assert (await kit.states(sent.report_id))[-1] == "LEVERT"


async def test_v2_report_to_a_v1_office_is_refused_by_the_fagsystem_and_posted(kit: Kit) -> None:
    legacy = municipality_of(kit, "fjordsys", stottet_versjon=1)
    too_new = await kit.send_report(legacy, version="v2")
    fitting = await kit.send_report(legacy, version="v1")
    assert too_new.response.status_code == 200  # KS cannot tell: it is the fagsystem that refuses
    kit.advance(PAST_WORST_PORTAL + PAST_WORST_PAPER_POST)
    history = (await kit.status(too_new.report_id)).json()
    assert [entry["tilstand"] for entry in history] == [
        "AKSEPTERT",
        "SENDT_FAGSYSTEM",
        "AVVIST_FAGSYSTEM",
        "SENDT_PRINT",
        "LEVERT",
    ]
    assert "støtter ikke versjon 2" in history[2]["beskrivelse"]
    assert history[4]["beskrivelse"] == POSTED_DESCRIPTION
    assert [entry["tidspunkt"] for entry in history] == sorted(entry["tidspunkt"] for entry in history)
    assert await kit.states(fitting.report_id) == ["AKSEPTERT", "SENDT_FAGSYSTEM", "LEVERT"]
    assert await kit.registered(legacy) == [fitting.canary_id]


async def test_office_of_a_city_with_another_version_than_its_default_receiver(kit: Kit) -> None:
    sagene = await kit.send_report("0301", bydel="03", version="v2")
    kit.advance(PAST_WORST_PORTAL)
    assert "AVVIST_FAGSYSTEM" in await kit.states(sagene.report_id)
    assert await kit.registered("0301") == []


async def test_pkcs1v15_envelope_is_stored_but_counted_as_a_deviation(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "vidde")
    subject = kit.subject(kommunenummer)
    print_cert, fiks_cert = await kit.keys(kommunenummer, subject.bydelsnummer)
    container = build_asice(
        {
            "bekymringsmelding.json": json.dumps(portal_report(subject)).encode(),
            "bekymringsmelding.pdf": b"%PDF-1.4 fiktiv",
        },
        kit.container_signer,
    )
    admin = f"{kit.base}/admin/deviations"
    assert (await kit.http.get(admin)).json() == {"cms_pkcs1v15": 0, "print_cms_pkcs1v15": 0}
    sent = await kit.send_report(
        kommunenummer,
        parts={
            "bekymringsmelding": (
                "bekymringsmelding.pdf",
                pkcs1v15_envelope(b"%PDF-1.4 fiktiv", print_cert),
                "application/pdf",
            ),
            "asice": ("asice.zip", pkcs1v15_envelope(container, fiks_cert), "application/octet-stream"),
        },
    )
    assert sent.response.status_code == 200, sent.response.text
    assert kit.world.deviations == {"print_cms_pkcs1v15": 1}  # KS opened the print part at once
    kit.advance(PAST_WORST_PORTAL)
    assert await kit.states(sent.report_id) == ["AKSEPTERT", "SENDT_FAGSYSTEM", "LEVERT"]
    assert await kit.registered(kommunenummer) == [subject.canary_id]
    assert kit.world.deviations == {"cms_pkcs1v15": 1, "print_cms_pkcs1v15": 1}
    assert (await kit.http.get(admin)).json() == {"cms_pkcs1v15": 1, "print_cms_pkcs1v15": 1}
    index = (await kit.http.get(f"{kit.base}/")).json()
    assert index["deviations"] == admin


async def test_oaep_envelopes_are_no_deviation(kit: Kit) -> None:
    sent = await kit.send_report("4601")
    kit.advance(PAST_WORST_PORTAL)
    assert (await kit.states(sent.report_id))[-1] == "LEVERT"
    assert not kit.world.deviations


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
    files = {
        "bekymringsmelding.json": json.dumps(portal_report(kit_subject)).encode(),
        "bekymringsmelding.pdf": b"%PDF-1.4",
    }
    container = build_asice(files, kit.container_signer)
    wrong_recipient = await kit.send_report("4601", keys=(print_cert, other_cert), asice=container)
    tampered_cipher = bytearray(cms.encrypt(container, fiks_cert))
    # CBC: the block garbles and the next one gets a flipped bit, but the padding stays valid, so the
    # fagsystem decrypts garbage; mid-container it breaks an entry (near the end it could only hit the
    # zip comment, which nothing reads).
    tampered_cipher[len(tampered_cipher) // 2] ^= 0xFF
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
    extra_file = await kit.send_report(
        "4601", asice=build_asice({**files, "vedlegg.pdf": b"%PDF-1.4"}, kit.container_signer)
    )
    missing_pdf = await kit.send_report(
        "4601",
        asice=build_asice({"bekymringsmelding.json": files["bekymringsmelding.json"]}, kit.container_signer),
    )
    not_json = await kit.send_report(
        "4601", asice=build_asice({**files, "bekymringsmelding.json": b"{"}, kit.container_signer)
    )
    not_an_object = await kit.send_report(
        "4601", asice=build_asice({**files, "bekymringsmelding.json": b"[]"}, kit.container_signer)
    )
    reports = {
        "wrong_recipient": (wrong_recipient, "CMS: no recipient info names this certificate"),
        "tampered": (tampered, "ASiC-E: "),
        "schema_invalid": (schema_invalid, "offentligBarn"),
        "misaddressed": (misaddressed, "adressert til 0301"),
        "not_a_container": (not_a_container, "ASiC-E: not a zip archive"),
        "extra_file": (extra_file, "ukjente filer: vedlegg.pdf"),
        "missing_pdf": (missing_pdf, "mangler bekymringsmelding.pdf"),
        "not_json": (not_json, "Kunne ikke parse JSON"),
        "not_an_object": (not_an_object, "ikke et JSON-objekt"),
    }
    for sent, _ in reports.values():
        assert sent.response.status_code == 200, sent.response.text
    kit.advance(PAST_WORST_PORTAL)
    for name, (sent, reason) in reports.items():
        history = (await kit.status(sent.report_id)).json()
        assert [entry["tilstand"] for entry in history[:3]] == [
            "AKSEPTERT",
            "SENDT_FAGSYSTEM",
            "AVVIST_FAGSYSTEM",
        ]
        assert reason in history[2]["beskrivelse"], name
    kit.advance(PAST_WORST_PAPER_POST)
    for sent, _ in reports.values():
        # LEVERT only ever after paper post here: the letter, never a receipt.
        assert (await kit.states(sent.report_id)) == [
            "AKSEPTERT",
            "SENDT_FAGSYSTEM",
            "AVVIST_FAGSYSTEM",
            "SENDT_PRINT",
            "LEVERT",
        ]
    assert await kit.registered("4601") == []


async def test_unsigned_container_is_rejected_by_the_fagsystem(kit: Kit) -> None:
    """What Kanari sent before it signed: a container without ASiCManifest.xml and signature."""
    unsigned = io.BytesIO()
    with zipfile.ZipFile(unsigned, "w") as archive:
        archive.writestr("mimetype", b"application/vnd.etsi.asic-e+zip", zipfile.ZIP_STORED)
        archive.writestr("bekymringsmelding.json", json.dumps(portal_report(kit.subject("4601"))))
        archive.writestr("bekymringsmelding.pdf", b"%PDF-1.4")
    sent = await kit.send_report("4601", asice=unsigned.getvalue())
    kit.advance(PAST_WORST_PORTAL)
    history = (await kit.status(sent.report_id)).json()
    assert history[2]["tilstand"] == "AVVIST_FAGSYSTEM"
    assert "ASiC-E: File not verified: 'bekymringsmelding.json'" in history[2]["beskrivelse"]


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
    opened = open_envelope(cms.encrypt(b"%PDF-1.7 test", print_cert), pki.print_certificate, pki.print_key)
    assert (opened.content, opened.key_transport) == (b"%PDF-1.7 test", KeyTransport.OAEP)
