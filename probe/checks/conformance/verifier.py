"""Running the read-back v1 rules (:mod:`.rules`) against one vendor's API for one municipality.

Every call goes through the probe's own transport (:class:`Upstream`: its timeout, answer size bound,
TLS verification) and the rules that read canaries use the probe's own client and parser
(:class:`ReadbackClient`), so what passes here is what Kanari can use. The rules that need a registered
canary are in :mod:`.entries`.
"""

from __future__ import annotations

import dataclasses
import uuid

import httpx

from probe.checks.conformance import contract
from probe.checks.conformance.calls import Calls, expect, failure_text
from probe.checks.conformance.entries import EntryRules, Listing
from probe.checks.conformance.rules import (
    AUTH_NO_TOKEN,
    AUTH_WRONG_TOKEN,
    CANARY_UNKNOWN,
    DELETE_UNKNOWN,
    LIMITS_SIZE,
    LIMITS_TIME,
    LIST_SERVER_TIME,
    LIST_SHAPE,
    LIST_SINCE_REQUIRED,
    LIST_UNKNOWN_MUNICIPALITY,
    RULES,
    Outcome,
    Rule,
    failed,
    passed,
)
from probe.checks.readback import UPSTREAM, ReadbackClient, parse_registration
from probe.clock import Clock, parse_rfc3339, to_rfc3339
from probe.config.vendors import Vendor
from probe.errors import InvalidResponseError
from probe.transport.upstream import Upstream

# No municipality has number 0000 (the pattern allows it): every vendor must answer 404 for it.
UNKNOWN_MUNICIPALITY = "0000"


@dataclasses.dataclass(frozen=True)
class Limits:
    """The probe's own limits the vendor must meet (given by the caller from Kanari's settings and
    engine, so they are written once): the read-back timeout, the answer size Kanari reads, the clock
    difference its ``since`` tolerates, and how far back its widest ``since`` reaches."""

    timeout: float
    max_response_bytes: int
    clock_skew: float
    window: float


async def verify(
    vendor: Vendor,
    kommunenummer: str,
    *,
    http: httpx.AsyncClient,
    clock: Clock,
    limits: Limits,
    canary_id: str | None = None,
) -> list[Outcome]:
    """Run every rule against ``vendor``'s read-back API (static token) for ``kommunenummer``; one
    :class:`Outcome` per rule of :data:`RULES`, in that order. Never raises for the vendor's answers."""
    readback = vendor.readback
    if readback is None or readback.auth.token is None:
        raise ValueError(f"vendor {vendor.id} has no read-back API with a static token")
    token = readback.auth.token.value()
    upstream = Upstream(
        UPSTREAM,
        http,
        clock,
        concurrency=1,
        timeout=limits.timeout,
        max_response_bytes=limits.max_response_bytes,
    )
    run = _Run(ReadbackClient(vendor, upstream, None), Calls(upstream, token), clock, limits, kommunenummer)
    found = await run.all(canary_id)
    by_rule = {outcome.rule: outcome for outcome in found}
    # A vendor's answer may echo what it was sent: the token never reaches the output.
    return [
        dataclasses.replace(outcome, detail=outcome.detail.replace(token, "[token]"))
        for outcome in (by_rule[rule] for rule in RULES)
    ]


class _Run:
    """One run's state: the calls made and the listing the later rules build on."""

    def __init__(
        self, client: ReadbackClient, calls: Calls, clock: Clock, limits: Limits, kommunenummer: str
    ) -> None:
        self.client = client
        self.calls = calls
        self.clock = clock
        self.limits = limits
        self.kommunenummer = kommunenummer

    async def all(self, canary_id: str | None) -> list[Outcome]:
        list_url = self.client.url(self.kommunenummer)
        widest = {"since": to_rfc3339(self.clock.now() - self.limits.window)}
        outcomes = [
            await self._refused(AUTH_NO_TOKEN, None),
            await self._refused(AUTH_WRONG_TOKEN, f"kanari-conformance-wrong-{uuid.uuid4()}"),
        ]
        listing = await self._listing(widest)
        outcomes += [self._shape(listing), self._server_time(listing)]
        since_missing = await self.calls.authorised("list without since", "GET", list_url)
        outcomes.append(expect(LIST_SINCE_REQUIRED, since_missing, (400,)))
        unknown_list = await self.calls.authorised(
            f"list of municipality {UNKNOWN_MUNICIPALITY}",
            "GET",
            self.client.url(UNKNOWN_MUNICIPALITY),
            widest,
        )
        outcomes.append(expect(LIST_UNKNOWN_MUNICIPALITY, unknown_list, (404,)))
        unknown = f"/{uuid.uuid4()}"
        got = await self.calls.authorised(
            "GET unknown canary", "GET", self.client.url(self.kommunenummer, unknown)
        )
        outcomes.append(expect(CANARY_UNKNOWN, got, (404,)))
        deleted = await self.calls.authorised(
            "DELETE unknown canary", "DELETE", self.client.url(self.kommunenummer, unknown)
        )
        outcomes.append(expect(DELETE_UNKNOWN, deleted, (404,), " (the contract's answer for gone)"))
        outcomes += await EntryRules(self.client, self.calls, self.kommunenummer).run(listing, canary_id)
        outcomes += [self._time(), self._size()]
        return outcomes

    async def _refused(self, rule: Rule, token: str | None) -> Outcome:
        since = {"since": to_rfc3339(self.clock.now() - self.limits.window)}
        answer = await self.calls.send(
            rule.id, "GET", self.client.url(self.kommunenummer), token=token, params=since
        )
        if answer.status is not None and 200 <= answer.status < 300:
            return failed(rule, f"{answer.describe()}: anyone can list this municipality's canaries")
        return expect(rule, answer, (401, 403))

    async def _listing(self, params: dict[str, str]) -> Listing:
        before = self.clock.now()
        answer = await self.calls.authorised("list", "GET", self.client.url(self.kommunenummer), params)
        after = self.clock.now()
        if answer.status != 200 or answer.error is not None:
            return Listing(answer, before, after)
        try:
            body = answer.json()
        except ValueError:
            return Listing(answer, before, after)
        entries = body.get("canaries") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            return Listing(answer, before, after, body)
        objects = tuple(entry for entry in entries if isinstance(entry, dict))
        try:
            registrations = tuple(parse_registration(entry) for entry in entries)
        except InvalidResponseError:
            return Listing(answer, before, after, body, (), objects)
        return Listing(answer, before, after, body, registrations, objects)

    def _shape(self, listing: Listing) -> Outcome:
        answer = listing.answer
        if answer.status != 200 or answer.error is not None:
            return failed(LIST_SHAPE, f"{answer.describe()}; expected 200 with the list")
        try:
            body = answer.json()
        except ValueError as error:
            return failed(LIST_SHAPE, f"HTTP 200 but the answer is not JSON ({error})")
        problems = contract.problems(body, "CanaryList")
        if problems:
            shown = "; ".join(problems[: contract.SHOWN_PROBLEMS])
            more = len(problems) - contract.SHOWN_PROBLEMS
            return failed(LIST_SHAPE, shown + (f" (and {more} more)" if more > 0 else ""))
        for entry in body["canaries"]:
            try:
                parse_registration(entry)
            except InvalidResponseError as error:  # the schema allows what Kanari's parser refuses
                return failed(LIST_SHAPE, f"Kanari cannot read an entry: {failure_text(error)}")
        hours = self.limits.window / 3600
        return passed(
            LIST_SHAPE, f"HTTP 200, {len(body['canaries'])} canaries listed in the last {hours:.0f} h"
        )

    def _server_time(self, listing: Listing) -> Outcome:
        body = listing.body
        if not isinstance(body, dict):
            return failed(LIST_SERVER_TIME, f"no list answer to read it from ({listing.answer.describe()})")
        text = body.get("serverTime")
        if not isinstance(text, str):
            return failed(LIST_SERVER_TIME, "the list answer has no serverTime string")
        try:
            server = parse_rfc3339(text)
        except ValueError:
            return failed(LIST_SERVER_TIME, f"serverTime {text[:40]!r} is not RFC 3339 with an offset")
        middle = (listing.before + listing.after) / 2
        allowed = self.limits.clock_skew + (listing.after - listing.before) / 2
        skew = server - middle
        bound = f"allowed ±{self.limits.clock_skew:g} s, the clock difference Kanari's since tolerates"
        if abs(skew) > allowed:
            side = "ahead of" if skew > 0 else "behind"
            return failed(
                LIST_SERVER_TIME, f"serverTime {text} is {abs(skew):.0f} s {side} this clock ({bound})"
            )
        return passed(LIST_SERVER_TIME, f"serverTime {text}, {skew:+.1f} s from this clock ({bound})")

    def _time(self) -> Outcome:
        answers = self.calls.answers
        slow = [answer.call for answer in answers if answer.timed_out]
        limit = f"Kanari waits at most {self.limits.timeout:g} s"
        if slow:
            return failed(
                LIMITS_TIME,
                f"no complete answer in time to {len(slow)} call(s): {', '.join(slow[:3])} ({limit})",
            )
        answered = [answer for answer in answers if answer.answered]
        if not answered:
            return failed(LIMITS_TIME, f"no call was answered ({answers[0].describe()})")
        slowest = max(answered, key=lambda answer: answer.seconds)
        return passed(LIMITS_TIME, f"slowest answer {slowest.seconds:.2f} s ({slowest.call}); {limit}")

    def _size(self) -> Outcome:
        answers = self.calls.answers
        limit = f"Kanari reads at most {self.limits.max_response_bytes} bytes"
        big = [answer.call for answer in answers if answer.too_large]
        if big:
            return failed(
                LIMITS_SIZE, f"answer too large to {len(big)} call(s): {', '.join(big[:3])} ({limit})"
            )
        if not any(answer.answered for answer in answers):
            return failed(LIMITS_SIZE, f"no call was answered ({answers[0].describe()})")
        # Every answer was read in full within the bound; only successful ones keep their body to measure.
        sized = [answer for answer in answers if answer.body is not None]
        if not sized:
            return passed(LIMITS_SIZE, f"no answer exceeded it; {limit}")
        largest = max(sized, key=lambda answer: len(answer.body or b""))
        return passed(
            LIMITS_SIZE, f"largest answer {len(largest.body or b'')} bytes ({largest.call}); {limit}"
        )
