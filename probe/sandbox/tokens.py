"""The sandbox's Maskinporten (DESIGN 3.1) and the bearer tokens the other sandbox APIs accept.

The JWT-bearer grant is verified for real, in the order Maskinporten documents its checks: a known client
(``iss``), an RS256/384/512 signature by the key the ``kid`` names or by the leaf of an ``x5c`` business
certificate chain that leads to the sandbox's business CA and names the client's organisation, ``aud``
equal to the issuer, ``exp - iat <= 120``, ``iat`` within 10 s of now, an unused ``jti``, and scopes the
client may have. ``consumer_org`` (Maskinporten's delegation claim) is honoured only when that
organisation has delegated to the client. Refusals are HTTP 400 ``{error, error_description}`` with the
OAuth error codes Maskinporten answers.

Access tokens are JWTs signed by the sandbox. Altinn tokens (from the token exchange) are signed by the
same key with Altinn's issuer, so each API can refuse the other's tokens as the real ones do.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any, TypeGuard
from urllib.parse import parse_qsl

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from probe.clock import Clock
from probe.sandbox.certs import orgnr_of, verify_chain
from probe.sandbox.errors import SandboxError

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS256", "RS384", "RS512")
# Maskinporten's limits (docs.digdir.no, "JWT grant").
MAX_ASSERTION_LIFETIME = 120
MAX_CLOCK_SKEW = 10
ISO6523_AUTHORITY = "iso6523-actorid-upis"
SIGNING_KEY_ID = "sandbox-signing-key"


class GrantError(SandboxError):
    """A refused grant: the OAuth ``error`` code and a ``description``."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class TokenRejectedError(SandboxError):
    """A bearer token an API does not accept; ``status`` is 401 (not valid) or 403 (valid, not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Client:
    """A registered Maskinporten client."""

    client_id: str
    orgnr: str
    scopes: frozenset[str]
    keys: Mapping[str, rsa.RSAPublicKey]
    # Organisations that delegated to this client: allowed values of ``consumer_org``.
    delegated_by: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who a verified bearer token speaks for."""

    client_id: str
    scopes: frozenset[str]
    # The organisation the token acts for (``consumer``): the client's own, or the delegating one.
    orgnr: str
    claims: Mapping[str, Any]


def _orgnr_of_consumer(claims: Mapping[str, Any]) -> str:
    consumer = claims.get("consumer")
    identifier = consumer.get("ID") if isinstance(consumer, dict) else None
    if not isinstance(identifier, str) or ":" not in identifier:
        raise TokenRejectedError(401, "token has no consumer organisation")
    return identifier.split(":", 1)[1]


class TokenService:
    """Maskinporten's token endpoint, the Altinn token exchange, and bearer verification."""

    def __init__(
        self,
        clock: Clock,
        *,
        maskinporten_issuer: str,
        altinn_issuer: str,
        signing_key: rsa.RSAPrivateKey,
        clients: list[Client],
        business_ca: x509.Certificate,
        token_lifetime: int,
        altinn_token_lifetime: int,
    ) -> None:
        self._clock = clock
        self.issuer = maskinporten_issuer
        self.altinn_issuer = altinn_issuer
        self._key = signing_key
        self._clients = {client.client_id: client for client in clients}
        self._business_ca = business_ca
        self._lifetime = token_lifetime
        self._altinn_lifetime = altinn_token_lifetime
        # (client, jti) → the assertion's exp; entries are dropped once expired, so memory stays bounded
        # by the grants of the last two minutes.
        self._used_jti: dict[tuple[str, str], float] = {}

    def client(self, client_id: str) -> Client | None:
        """The registered client ``client_id``."""
        return self._clients.get(client_id)

    # --- the grant -----------------------------------------------------------------------------------

    def grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer a token request (form fields), or raise :class:`GrantError`."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise GrantError("invalid_request", "Missing required parameter: grant_type")
        if grant_type != GRANT_TYPE:
            raise GrantError("unsupported_grant_type", f"Unsupported grant_type: {grant_type}")
        assertion = form.get("assertion")
        if not assertion:
            raise GrantError("invalid_request", "Missing required parameter: assertion")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise GrantError("invalid_grant", "Invalid assertion. The JWT could not be parsed.") from None
        if header.get("alg") not in ASSERTION_ALGORITHMS:
            raise GrantError("invalid_grant", f"Invalid assertion. Unsupported alg: {header.get('alg')}")
        client = self._clients.get(str(unverified.get("iss", "")))
        if client is None:
            raise GrantError("invalid_client", "Client authentication failed. Unknown client (iss).")
        public_key = self._assertion_key(client, header)
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                public_key,
                algorithms=list(ASSERTION_ALGORITHMS),
                # Time claims and aud are checked below against the sandbox's clock, with
                # Maskinporten's own messages.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise GrantError(
                "invalid_grant", "Invalid assertion. Client authentication failed. Invalid signature."
            ) from None
        except jwt.PyJWTError as error:
            raise GrantError("invalid_grant", f"Invalid assertion. {error}") from None
        self._check_claims(client, claims)
        scopes = self._check_scopes(client, claims)
        consumer = self._consumer(client, claims)
        return self._issue(client, scopes, consumer)

    def _assertion_key(self, client: Client, header: Mapping[str, Any]) -> rsa.RSAPublicKey:
        chain = header.get("x5c")
        if chain is not None:
            if not isinstance(chain, list) or not chain or not all(isinstance(item, str) for item in chain):
                raise GrantError("invalid_grant", "Invalid assertion. x5c must be a list of certificates.")
            try:
                certificates = [
                    x509.load_der_x509_certificate(base64.b64decode(item, validate=True)) for item in chain
                ]
                leaf = verify_chain(certificates, self._business_ca, self._clock.now())
            except (ValueError, binascii.Error) as error:
                raise GrantError(
                    "invalid_grant",
                    f"Invalid assertion. Client authentication failed. The JWT is signed with an invalid "
                    f"certificate ({error}).",
                ) from None
            if client.orgnr not in orgnr_of(leaf):
                raise GrantError(
                    "invalid_grant",
                    "Invalid assertion. Client authentication failed. The certificate does not belong to "
                    "the client's organisation.",
                )
            key = leaf.public_key()
            if not isinstance(key, rsa.RSAPublicKey):
                raise GrantError("invalid_grant", "Invalid assertion. The certificate key is not RSA.")
            return key
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise GrantError("invalid_grant", "Invalid assertion. Either kid or x5c must be present.")
        registered = client.keys.get(kid)
        if registered is None:
            raise GrantError(
                "invalid_grant", f"Invalid assertion. Client authentication failed. Unknown kid: {kid}"
            )
        return registered

    def _check_claims(self, client: Client, claims: Mapping[str, Any]) -> None:
        audience = claims.get("aud")
        if audience != self.issuer:
            raise GrantError(
                "invalid_grant",
                f"Invalid assertion. Client authentication failed. Invalid JWT claim aud: {audience!r} "
                f"(expected {self.issuer})",
            )
        issued, expires = claims.get("iat"), claims.get("exp")
        if not _is_number(issued) or not _is_number(expires):
            raise GrantError("invalid_grant", "Invalid assertion. iat and exp are required.")
        issued_at, expires_at = float(issued), float(expires)
        if expires_at - issued_at > MAX_ASSERTION_LIFETIME:
            raise GrantError(
                "invalid_grant",
                f"Invalid assertion. exp - iat must not exceed {MAX_ASSERTION_LIFETIME} seconds.",
            )
        now = self._clock.now()
        if abs(issued_at - now) > MAX_CLOCK_SKEW:
            raise GrantError(
                "invalid_grant",
                f"Invalid assertion. iat must be within {MAX_CLOCK_SKEW} seconds of the server's clock.",
            )
        if expires_at <= now:
            raise GrantError("invalid_grant", "Invalid assertion. The JWT has expired.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise GrantError("invalid_grant", "Invalid assertion. jti is required.")
        self._used_jti = {key: until for key, until in self._used_jti.items() if until > now}
        if (client.client_id, jti) in self._used_jti:
            raise GrantError("invalid_grant", "Invalid assertion. The jti has already been used.")
        self._used_jti[(client.client_id, jti)] = expires_at

    def _check_scopes(self, client: Client, claims: Mapping[str, Any]) -> list[str]:
        requested = claims.get("scope")
        if not isinstance(requested, str) or not requested.split():
            raise GrantError("invalid_scope", "Missing scope.")
        scopes = requested.split()
        refused = [scope for scope in scopes if scope not in client.scopes]
        if refused:
            raise GrantError("invalid_scope", f"Scope not allowed for client: {' '.join(refused)}")
        return scopes

    def _consumer(self, client: Client, claims: Mapping[str, Any]) -> str:
        consumer = claims.get("consumer_org")
        if consumer is None:
            return client.orgnr
        if not isinstance(consumer, str) or consumer not in client.delegated_by:
            raise GrantError("invalid_grant", f"consumer_org {consumer!r} has not delegated to this client.")
        return consumer

    def _issue(self, client: Client, scopes: list[str], consumer: str) -> dict[str, Any]:
        now = int(self._clock.now())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "client_id": client.client_id,
            "client_amr": "private_key_jwt",
            "token_type": "Bearer",
            "scope": " ".join(scopes),
            "consumer": {"authority": ISO6523_AUTHORITY, "ID": f"0192:{consumer}"},
            "iat": now,
            "exp": now + self._lifetime,
            "jti": str(uuid.uuid4()),
        }
        if consumer != client.orgnr:
            claims["supplier"] = {"authority": ISO6523_AUTHORITY, "ID": f"0192:{client.orgnr}"}
        return {
            "access_token": self._sign(claims),
            "token_type": "Bearer",
            "expires_in": self._lifetime,
            "scope": " ".join(scopes),
        }

    def _sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self._key, algorithm="RS256", headers={"kid": SIGNING_KEY_ID})

    # --- bearer tokens -------------------------------------------------------------------------------

    def verify(self, authorization: str | None, issuer: str, scope: str | None = None) -> Principal:
        """The principal of an ``Authorization: Bearer`` header whose token ``issuer`` signed; raises
        :class:`TokenRejectedError` (401 invalid or expired, 403 without ``scope``)."""
        if not authorization or not authorization.startswith("Bearer "):
            raise TokenRejectedError(401, "missing bearer token")
        token = authorization.removeprefix("Bearer ").strip()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                issuer=issuer,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.PyJWTError as error:
            raise TokenRejectedError(401, f"invalid token: {type(error).__name__}") from None
        expires = claims.get("exp")
        if not _is_number(expires) or float(expires) <= self._clock.now():
            raise TokenRejectedError(401, "token expired")
        scopes = frozenset(str(claims.get("scope", "")).split())
        if scope is not None and scope not in scopes:
            raise TokenRejectedError(403, f"token lacks scope {scope}")
        return Principal(str(claims.get("client_id", "")), scopes, _orgnr_of_consumer(claims), claims)

    def exchange_for_altinn(self, authorization: str | None) -> str:
        """Altinn's token exchange: a valid Maskinporten token becomes an Altinn token with the same
        organisation and scopes, living :attr:`altinn_token_lifetime` seconds."""
        principal = self.verify(authorization, self.issuer)
        now = int(self._clock.now())
        claims: dict[str, Any] = {
            "iss": self.altinn_issuer,
            "urn:altinn:orgNumber": principal.orgnr,
            "urn:altinn:authenticatemethod": "maskinporten",
            "urn:altinn:authlevel": 3,
            "client_id": principal.client_id,
            "consumer": principal.claims.get("consumer"),
            "scope": " ".join(sorted(principal.scopes)),
            "iat": now,
            "exp": now + self._altinn_lifetime,
            "jti": str(uuid.uuid4()),
        }
        return self._sign(claims)

    def jwks(self) -> dict[str, Any]:
        """The public signing key as a JWKS (for anyone checking the sandbox's tokens)."""
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": SIGNING_KEY_ID, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def maskinporten_routes(tokens: TokenService) -> list[BaseRoute]:
    """``/maskinporten/token``, the server metadata and the JWKS."""

    async def token(request: Request) -> Response:
        form = await _form(request)
        try:
            answer = tokens.grant(form)
        except GrantError as error:
            return JSONResponse(
                {"error": error.error, "error_description": error.description}, status_code=400
            )
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def metadata(request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": tokens.issuer,
                "token_endpoint": tokens.issuer + "token",
                "jwks_uri": tokens.issuer + "jwk",
                "grant_types_supported": [GRANT_TYPE],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def jwks(request: Request) -> Response:
        return JSONResponse(tokens.jwks())

    return [
        Route("/maskinporten/token", token, methods=["POST"]),
        Route("/maskinporten/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
        Route("/maskinporten/jwk", jwks, methods=["GET"]),
    ]


async def _form(request: Request) -> dict[str, str]:
    # ``application/x-www-form-urlencoded`` parsed with the stdlib: the grant is two short fields, and
    # Starlette's form parser would need python-multipart for nothing.
    body = await request.body()
    if len(body) > 64 * 1024:
        return {}
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return {}
    return dict(pairs)
