"""Error answers in the style of each service the sandbox stands in for.

* KS's APIs are Spring Boot services behind KS's gateway: ``{timestamp, status, error, errorId, path,
  originalPath, message}``.
* Altinn Correspondence answers two kinds of problem details (``ProblemDetailsHelper.cs``, with the
  ``Altinn.Authorization.ProblemDetails`` extensions). Coded errors of ``Errors.cs``:
  ``{type, title, status, detail, code: "CORR-0NNNN", traceId, statusDescription, errorCode: NNNN}``
  (``errorCode`` a JSON number). Model validation failures (the request model's attributes, and JSON
  that does not deserialize): ``{type, title: "Bad Request", status: 400, code: "STD-00000", traceId,
  statusDescription, validationErrors: [{code: "CORR.VLD-00000", title, paths}], errors: {key: [...]}}``
  with neither ``detail`` nor ``errorCode``. Both are served as ``application/json``: the controller's
  ``[Produces("application/json")]`` overrides ASP.NET's ``application/problem+json``. Authentication
  failures (JwtBearer) are a bare 401, authorisation (scope policy) failures a bare 403.
* The read-back API (defined by Kanari, ``docs/readback-openapi.yaml``) answers RFC 7807 problem details.
"""

from __future__ import annotations

import http
import secrets
import uuid
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from probe.clock import Clock, to_datetime

PROBLEM_JSON = "application/problem+json"
# RFC 9110 sections of the status codes Altinn links its problem types to.
_RFC9110 = {
    400: "15.5.1",
    401: "15.5.2",
    403: "15.5.4",
    404: "15.5.5",
    409: "15.5.10",
    413: "15.5.14",
    422: "15.5.21",
    429: "6.4",
    500: "15.6.1",
    503: "15.6.4",
}


def _phrase(status: int) -> str:
    return http.HTTPStatus(status).phrase


def ks_error(request: Request, clock: Clock, status: int, message: str, service_prefix: str) -> JSONResponse:
    """A KS (Spring Boot) error answer. ``path`` is the path inside the service, ``originalPath`` the
    path the caller used (the gateway strips the service prefix)."""
    original = request.url.path
    inner = original.removeprefix(service_prefix) or "/"
    body = {
        "timestamp": to_datetime(clock.now()).isoformat(timespec="milliseconds"),
        "status": status,
        "error": _phrase(status),
        "errorId": str(uuid.uuid4()),
        "path": inner,
        "originalPath": original,
        "message": message,
    }
    return JSONResponse(body, status_code=status)


def _trace_id() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def altinn_problem(status: int, code: int, detail: str) -> JSONResponse:
    """An Altinn Correspondence error (one of ``Errors.cs``) as Altinn serialises it."""
    body = {
        "type": f"https://tools.ietf.org/html/rfc9110#section-{_RFC9110.get(status, '15.5.1')}",
        "title": _phrase(status),
        "status": status,
        "detail": detail,
        # ErrorCode formats the number with five digits under the descriptor's domain.
        "code": f"CORR-{code:05d}",
        "traceId": _trace_id(),
        "statusDescription": _phrase(status),
        "errorCode": code,
    }
    return JSONResponse(body, status_code=status)


def altinn_validation(errors: Mapping[str, list[str]]) -> JSONResponse:
    """ASP.NET model validation failure (400) as Altinn serialises it: one ``validationErrors`` item per
    message (its path the ModelState key with ``/`` for ``.``) and the old ``errors`` dictionary."""
    body = {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "Bad Request",
        "status": 400,
        "code": "STD-00000",
        "traceId": _trace_id(),
        "statusDescription": "Bad Request",
        "validationErrors": [
            {"code": "CORR.VLD-00000", "title": message, "paths": [key.replace(".", "/")]}
            for key, messages in errors.items()
            for message in messages
        ],
        "errors": {key: list(messages) for key, messages in errors.items()},
    }
    return JSONResponse(body, status_code=400)


def bare(status: int, challenge: str | None = None) -> Response:
    """An empty answer (ASP.NET's 401/403 from authentication middleware)."""
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return Response(status_code=status, headers=headers)


def problem(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A plain RFC 7807 problem (the read-back API's errors)."""
    body = {"type": "about:blank", "title": _phrase(status), "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))
