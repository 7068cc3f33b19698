"""The sandbox's Maskinporten: every acceptance and rejection case of the JWT-bearer grant."""

from __future__ import annotations

import datetime as dt

import httpx
import jwt
import pytest

from probe.sandbox.certs import Authority, business_subject, certificate_authority, name, new_key
from tests.sandbox.kit import Kit

pytestmark = pytest.mark.anyio


def assert_refused(response: httpx.Response, error: str, fragment: str = "") -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error
    assert fragment.lower() in body["error_description"].lower()


async def test_kid_grant_answers_a_signed_access_token(kit: Kit) -> None:
    response = await kit.grant(kit.assertion("ks:fiks altinn:correspondence.write"))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"access_token", "token_type", "expires_in", "scope"}
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 120
    assert answer["scope"] == "ks:fiks altinn:correspondence.write"
    jwks = (await kit.http.get(f"{kit.base}/maskinporten/jwk")).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(answer["access_token"], key, algorithms=["RS256"], options={"verify_exp": False})
    assert claims["iss"] == kit.manifest.maskinporten.issuer
    assert claims["client_id"] == "kanari-sandbox"
    assert claims["consumer"] == {
        "authority": "iso6523-actorid-upis",
        "ID": f"0192:{kit.manifest.maskinporten.orgnr}",
    }
    assert claims["exp"] - claims["iat"] == 120
    metadata = (await kit.http.get(f"{kit.base}/maskinporten/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == kit.manifest.maskinporten.issuer
    assert metadata["token_endpoint"] == kit.manifest.maskinporten.token_url


async def test_x5c_grant_with_the_business_certificate_chain(kit: Kit) -> None:
    response = await kit.grant(kit.assertion("ks:fiks", x5c=kit.chain))
    assert response.status_code == 200, response.text
    leaf_only = await kit.grant(kit.assertion("ks:fiks", x5c=kit.chain[:1]))
    assert leaf_only.status_code == 200, leaf_only.text


async def test_unknown_client(kit: Kit) -> None:
    assert_refused(await kit.grant(kit.assertion("ks:fiks", client_id="someone-else")), "invalid_client")


async def test_bad_signature_and_unknown_kid(kit: Kit) -> None:
    assert_refused(await kit.grant(kit.assertion("ks:fiks", key=new_key())), "invalid_grant", "signature")
    assert_refused(await kit.grant(kit.assertion("ks:fiks", kid="not-registered")), "invalid_grant", "kid")
    tampered = kit.assertion("ks:fiks")
    head, body, signature = tampered.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert_refused(await kit.grant(f"{head}.{body}.{flipped}"), "invalid_grant")


async def test_wrong_audience(kit: Kit) -> None:
    for audience in (kit.manifest.maskinporten.token_url, "https://maskinporten.no/", None):
        assert_refused(await kit.grant(kit.assertion("ks:fiks", aud=audience)), "invalid_grant", "aud")


async def test_lifetime_over_120_seconds(kit: Kit) -> None:
    now = int(kit.clock.now())
    assertion = kit.assertion("ks:fiks", iat=now, exp=now + 121)
    assert_refused(await kit.grant(assertion), "invalid_grant", "120")
    assert (await kit.grant(kit.assertion("ks:fiks", iat=now, exp=now + 120))).status_code == 200


async def test_stale_or_future_iat_and_expired_assertion(kit: Kit) -> None:
    now = int(kit.clock.now())
    assert_refused(
        await kit.grant(kit.assertion("ks:fiks", iat=now - 30, exp=now + 30)), "invalid_grant", "iat"
    )
    assert_refused(
        await kit.grant(kit.assertion("ks:fiks", iat=now + 30, exp=now + 90)), "invalid_grant", "iat"
    )
    assert_refused(
        await kit.grant(kit.assertion("ks:fiks", iat=now - 5, exp=now - 1)), "invalid_grant", "expired"
    )
    assert (await kit.grant(kit.assertion("ks:fiks", iat=now - 9, exp=now + 60))).status_code == 200


async def test_reused_jti(kit: Kit) -> None:
    assertion = kit.assertion("ks:fiks", jti="only-once")
    assert (await kit.grant(assertion)).status_code == 200
    assert_refused(await kit.grant(assertion), "invalid_grant", "jti")
    assert_refused(await kit.grant(kit.assertion("ks:fiks", jti=None)), "invalid_grant", "jti")


async def test_scope_not_allowed(kit: Kit) -> None:
    assert_refused(await kit.grant(kit.assertion("ks:fiks nav:secret")), "invalid_scope", "nav:secret")
    assert_refused(await kit.grant(kit.assertion("")), "invalid_scope")
    recipient = kit.manifest.altinn.recipient_client
    assertion = kit.assertion(
        "ks:fiks", client_id=recipient.client_id, key=kit.recipient_key, kid=recipient.key_id
    )
    assert_refused(await kit.grant(assertion), "invalid_scope", "ks:fiks")


async def test_bad_x5c_chains(kit: Kit) -> None:
    # A leaf for the right organisation, issued by a CA the sandbox does not trust.
    rogue_key = new_key()
    rogue = Authority(rogue_key, certificate_authority(rogue_key, name("Rogue CA", "Nobody")))
    leaf = rogue.issue(
        kit.client_key.public_key(),
        business_subject("Kanari", kit.manifest.maskinporten.orgnr, "x"),
        signing=True,
    )
    assert_refused(
        await kit.grant(kit.assertion("ks:fiks", x5c=[leaf, rogue.certificate])),
        "invalid_grant",
        "certificate",
    )
    # A genuine chain for another organisation.
    trusted = kit.world.credentials.business_ca
    other = trusted.issue(
        kit.client_key.public_key(), business_subject("Other AS", "999999999", "y"), signing=True
    )
    assert_refused(await kit.grant(kit.assertion("ks:fiks", x5c=[other])), "invalid_grant", "organisation")
    # The right certificate, but the assertion signed with another key.
    assert_refused(
        await kit.grant(kit.assertion("ks:fiks", x5c=kit.chain, key=new_key())), "invalid_grant", "signature"
    )
    # An expired leaf.
    now = kit.clock.now()
    expired = trusted.issue(
        kit.client_key.public_key(),
        business_subject("Kanari", kit.manifest.maskinporten.orgnr, "z"),
        dt.datetime.fromtimestamp(now - 86400 * 10, tz=dt.UTC),
        dt.datetime.fromtimestamp(now - 86400, tz=dt.UTC),
        signing=True,
    )
    assert_refused(await kit.grant(kit.assertion("ks:fiks", x5c=[expired])), "invalid_grant", "certificate")
    not_base64 = jwt.encode(
        {"iss": kit.manifest.maskinporten.client_id},
        kit.client_key,
        algorithm="RS256",
        headers={"x5c": ["!!"]},
    )
    assert_refused(await kit.grant(not_base64), "invalid_grant", "certificate")


async def test_malformed_requests(kit: Kit) -> None:
    assert_refused(
        await kit.grant(kit.assertion("ks:fiks"), grant_type="client_credentials"), "unsupported_grant_type"
    )
    response = await kit.http.post(
        kit.manifest.maskinporten.token_url,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"},
    )
    assert_refused(response, "invalid_request", "assertion")
    assert_refused(
        await kit.http.post(kit.manifest.maskinporten.token_url, data={}), "invalid_request", "grant_type"
    )
    assert_refused(await kit.grant("not.a.jwt"), "invalid_grant")
    hs256 = jwt.encode({"iss": "kanari-sandbox"}, "secret-secret-secret-secret-secret", algorithm="HS256")
    assert_refused(await kit.grant(hs256), "invalid_grant", "alg")


async def test_consumer_org_needs_a_delegation(kit: Kit) -> None:
    bergen = kit.manifest.municipalities["4601"].orgnr
    token = await kit.token("altinn:correspondence.read", consumer_org=bergen, recipient=True)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["consumer"]["ID"] == f"0192:{bergen}"
    assert claims["supplier"]["ID"].endswith("999666558")
    recipient = kit.manifest.altinn.recipient_client
    not_delegated = kit.assertion(
        "altinn:correspondence.read",
        client_id=recipient.client_id,
        key=kit.recipient_key,
        kid=recipient.key_id,
        consumer_org="999888771",
    )
    assert_refused(await kit.grant(not_delegated), "invalid_grant", "delegated")
    kanari_as_bergen = kit.assertion("ks:fiks", consumer_org=bergen)
    assert_refused(await kit.grant(kanari_as_bergen), "invalid_grant", "delegated")
