"""Kanari's exception tree.

Every error Kanari raises on purpose derives from :class:`KanariError`::

    KanariError
    ├── ConfigError            one bad value: file, field, value and a fix hint
    │   └── InvalidConfigError       several InvalidConfigError reported at once
    ├── UpstreamError          an upstream (KS, Altinn, Maskinporten, read-back) could not be used;
    │   │                      carries the upstream and a bounded ``reason``
    │   ├── AuthError          reason ``auth``: no token, or the token was refused
    │   ├── RateLimitedError   reason ``rate_limited``, with the ``Retry-After`` delay
    │   └── InvalidResponseError  reason ``invalid_response``: the answer did not parse
    │       └── ResponseTooLargeError  the answer exceeded the size Kanari reads
    ├── MarkerError            a canary marker failed verification (forged, altered, expired, unknown key)
    ├── LedgerError            the canary ledger could not be read or written
    │   ├── LedgerUnusableError      the ledger file cannot be opened as asked: names its path, what is
    │   │                            wrong and what to do (``kanari run``/``status`` exit 2 with it)
    │   │   └── LedgerLockedError    another probe holds the ledger (named: pid, host, since when)
    │   └── FencedError              a write refused because this replica no longer holds the lease
    ├── ListenError            an HTTP surface's HOST:PORT is malformed or cannot be listened on
    └── SandboxError           what the sandbox's simulated services refuse (probe.sandbox.errors)

The ``reason`` label of the failure metrics comes from :class:`Reason`, taken from this tree, never from
message text. Messages never carry secrets (tokens, passwords, keys, assertions).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Reason(enum.StrEnum):
    """Bounded reason of an upstream failure; the only values the ``reason`` metric label takes."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    TLS = "tls"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    INVALID_RESPONSE = "invalid_response"
    # The connection was closed or reset before the answer's head arrived: typically a pooled connection
    # the server closed at its idle timeout while the request was on its way.
    RESET = "reset"


class KanariError(Exception):
    """Base of every error Kanari raises on purpose."""


class ConfigError(KanariError):
    """One problem in the configuration, naming the file, the field and the offending value."""

    def __init__(self, file: str, field: str, value: object, message: str, hint: str = "") -> None:
        self.file = file
        self.field = field
        self.value = value
        self.message = message
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        """The one-line form printed by ``kanari config check``."""
        text = f"{self.file}: {self.field}: {self.message}"
        if self.value is not None:
            text += f" (value: {self.value!r})"
        if self.hint:
            text += f"; fix: {self.hint}"
        return text


class InvalidConfigError(KanariError):
    """Every problem found in one pass over the configuration, reported together."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors: list[ConfigError] = list(errors)
        super().__init__("\n".join(error.render() for error in self.errors))


class UpstreamError(KanariError):
    """An upstream could not be used. ``upstream`` names it (``portal``, ``altinn``, ``maskinporten``,
    ``readback``); ``reason`` is the bounded label value; ``status_code`` is the HTTP status if any.

    ``maybe_processed`` is True when the request may have reached the upstream and been acted on even
    though no usable answer came back (a read timeout, a connection reset mid-answer, a 2xx answer that
    does not parse): a send that failed this way must be looked up, never simply repeated or written off.

    ``detail`` is what the upstream itself said about the failure (Maskinporten's ``error`` and
    ``error_description``, KS's error message and code, Altinn's problem details), already bounded and
    cleaned of anything token-like by :func:`probe.diagnostics.from_body`: evidence for the ledger, the
    verdict's log line and ``kanari status``, never a metric label; ``error_code`` is its
    machine-readable code where it gave one (Altinn's ``errorCode``, OAuth's ``error``).
    """

    def __init__(
        self,
        upstream: str,
        reason: Reason,
        message: str,
        status_code: int | None = None,
        *,
        maybe_processed: bool = False,
        detail: str | None = None,
        error_code: str | None = None,
    ) -> None:
        self.upstream = upstream
        self.reason = reason
        self.status_code = status_code
        self.maybe_processed = maybe_processed
        self.detail = detail
        self.error_code = error_code
        super().__init__(f"{upstream}: {reason.value}: {message}")


class AuthError(UpstreamError):
    """A token could not be obtained, or the upstream refused it."""

    def __init__(
        self, upstream: str, message: str, status_code: int | None = None, *, detail: str | None = None
    ) -> None:
        super().__init__(upstream, Reason.AUTH, message, status_code, detail=detail)


class RateLimitedError(UpstreamError):
    """The upstream answered 429; ``retry_after`` is the delay in seconds it asked for."""

    def __init__(self, upstream: str, retry_after: float, message: str = "rate limited") -> None:
        self.retry_after = retry_after
        super().__init__(upstream, Reason.RATE_LIMITED, message, 429)


class InvalidResponseError(UpstreamError):
    """The upstream answered, but not in the shape its contract promises."""

    def __init__(self, upstream: str, message: str, status_code: int | None = None) -> None:
        processed = status_code is None or 200 <= status_code < 300
        super().__init__(upstream, Reason.INVALID_RESPONSE, message, status_code, maybe_processed=processed)


class ResponseTooLargeError(InvalidResponseError):
    """The answer was larger than Kanari reads (``http.max_response_bytes``); kept apart so that
    ``kanari readback verify`` can name the size limit as the rule broken."""


class MarkerError(KanariError):
    """A canary marker failed verification."""


class LedgerError(KanariError):
    """The canary ledger could not be read or written."""


class LedgerUnusableError(LedgerError):
    """The ledger at ``path`` cannot be opened as asked (``action``: ``open`` to write, ``read`` for a
    read-only look): ``problem`` says what is wrong, ``fix`` what the operator can do. Kept apart so that
    ``kanari config check`` can show them as a problem of the ``ledger`` setting."""

    def __init__(self, path: str, problem: str, fix: str, *, action: str = "open") -> None:
        self.path = path
        self.problem = problem
        self.fix = fix
        super().__init__(f"cannot {action} ledger {path}: {problem}; {fix}")


class LedgerLockedError(LedgerUnusableError):
    """Another probe holds the ledger (:mod:`probe.ledger.lock`): one sender per ledger. ``holder`` says
    who, as its lock file does (``pid 12 on host a since ...``), or is None if the file names nobody yet."""

    def __init__(self, path: str, holder: str | None) -> None:
        self.holder = holder
        who = holder or "its lock file does not name it yet"
        super().__init__(
            path,
            f"another Kanari probe holds it ({who})",
            "one probe sends per ledger: stop that one first, or give this one a ledger of its own "
            "(two replicas with a standby need the PostgreSQL ledger)",
        )


class FencedError(LedgerError):
    """A write was refused because this replica no longer holds the leader lease (PostgreSQL ledger):
    another replica took over, so this one must neither send nor commit (fencing)."""


class ListenError(KanariError):
    """A ``HOST:PORT`` to listen on is malformed, or the socket cannot be bound there (in use, not
    permitted, not an address of this machine). The message names the address and the problem."""
