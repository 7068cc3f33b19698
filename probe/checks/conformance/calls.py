"""The calls a conformance run makes, each through the probe's own :class:`Upstream` (so its time and
size limits are Kanari's), kept with what came back so that the limit rules can look at all of them."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from probe.checks.conformance.rules import Outcome, Rule, failed, passed
from probe.errors import Reason, ResponseTooLargeError, UpstreamError
from probe.transport.upstream import Upstream

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Answer:
    """What one call got: the response (``status``, ``body``) or the error that replaced it."""

    call: str
    status: int | None
    body: bytes | None
    seconds: float
    error: UpstreamError | None = None

    @property
    def timed_out(self) -> bool:
        """No complete answer within the timeout."""
        return self.error is not None and self.error.reason is Reason.TIMEOUT

    @property
    def too_large(self) -> bool:
        """The answer was bigger than Kanari reads."""
        return isinstance(self.error, ResponseTooLargeError)

    @property
    def answered(self) -> bool:
        """An HTTP answer arrived (whatever its status)."""
        return self.status is not None

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when there is none or it does not parse."""
        if self.body is None:
            raise ValueError("no answer body")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, RecursionError) as error:
            raise ValueError(str(error)) from None

    def describe(self) -> str:
        """``HTTP 401`` or the transport failure (``timeout: GET not answered in full within 10 s``)."""
        if self.error is None or (self.status is not None and not self.too_large):
            said = self.error.detail if self.error is not None else None
            return f"HTTP {self.status} ({said})" if said else f"HTTP {self.status}"
        # UpstreamError's text starts with the upstream's name, the same for every call here.
        return str(self.error).split(": ", 1)[-1]


class Calls:
    """Sends the run's requests and remembers every answer."""

    def __init__(self, upstream: Upstream, token: str) -> None:
        self._upstream = upstream
        self._token = token
        self.answers: list[Answer] = []

    async def send(
        self,
        call: str,
        method: str,
        url: str,
        *,
        token: str | None,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request with ``token`` as bearer (none when ``None``); never raises for the vendor's
        answers: a refusal is an :class:`Answer` with its status, a failure one with its error."""
        source = None if token is None else _fixed(token)
        started = time.perf_counter()
        try:
            # Each call has its own back-off key: a 429 to one rule's call fails that rule only.
            response = await self._upstream.request(
                method, url, backoff_key=call, token=source, params=dict(params or {})
            )
        except UpstreamError as error:
            answer = Answer(call, error.status_code, None, time.perf_counter() - started, error)
        else:
            answer = Answer(call, response.status_code, response.content, time.perf_counter() - started)
        self.answers.append(answer)
        return answer

    async def authorised(
        self, call: str, method: str, url: str, params: Mapping[str, str] | None = None
    ) -> Answer:
        """:meth:`send` with the vendor's token."""
        return await self.send(call, method, url, token=self._token, params=params)

    async def probe(self, call: str, action: Callable[[], Awaitable[T]]) -> T | UpstreamError:
        """Run one of the probe's own read-back calls (:class:`ReadbackClient`), recording its time and
        failure like :meth:`send` does; returns its result or the error it raised."""
        started = time.perf_counter()
        try:
            result = await action()
        except UpstreamError as error:
            self.answers.append(Answer(call, error.status_code, None, time.perf_counter() - started, error))
            return error
        self.answers.append(Answer(call, 200, None, time.perf_counter() - started))
        return result


def _fixed(token: str) -> Callable[[bool], Awaitable[str]]:
    async def source(fresh: bool) -> str:
        return token

    return source


def expect(rule: Rule, answer: Answer, statuses: tuple[int, ...], why: str = "") -> Outcome:
    """``rule`` passes when ``answer`` has one of ``statuses`` (a complete answer)."""
    seen = answer.describe()
    if answer.status in statuses and not answer.too_large:
        return passed(rule, seen)
    wanted = " or ".join(str(status) for status in statuses)
    return failed(rule, f"{seen}; expected {wanted}{why}")


def failure_text(error: UpstreamError) -> str:
    """An error of the probe's client as a rule's detail, with what the vendor said if anything."""
    text = str(error).split(": ", 1)[-1]
    return f"{text} ({error.detail})" if error.detail else text
