"""The rules that need a registered canary: ``canary.get``, ``since.excludes-earlier``,
``since.includes-at-and-after`` and ``delete.listed``.

The contract offers no way to put a canary into a vendor's system: only a real report does that. These
rules use the canary named with ``--canary-id``, or else the oldest one the list shows, and are skipped
when there is none. ``delete.listed`` removes the canary, so it runs only on one named with
``--canary-id``: deleting a canary Kanari is still waiting for would make it look lost.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from probe.checks.conformance import contract
from probe.checks.conformance.calls import Answer, Calls, failure_text
from probe.checks.conformance.rules import (
    CANARY_GET,
    DELETE_LISTED,
    SINCE_EXCLUDES_EARLIER,
    SINCE_INCLUDES,
    Outcome,
    failed,
    passed,
    skipped,
)
from probe.checks.readback import ReadbackClient, Registration, parse_registration
from probe.clock import to_rfc3339
from probe.errors import InvalidResponseError, UpstreamError

# ``since`` this long after a registration must leave it out; this long before must include it. A second
# (not a millisecond) so a vendor storing whole seconds is not failed for a precision Kanari never needs.
SINCE_STEP = 1.0
EARLIER = 60.0
NO_CANARY = (
    "skipped: no canary registered for this municipality (send one through a real channel and give "
    "--canary-id; see docs/vendors.md)"
)
NOT_GIVEN = "skipped: deletes the canary, so it runs only on one named with --canary-id"
NEEDING = (CANARY_GET, SINCE_EXCLUDES_EARLIER, SINCE_INCLUDES, DELETE_LISTED)


@dataclasses.dataclass(frozen=True)
class Listing:
    """The widest list answer: its body, raw entries and what Kanari's parser made of them (empty when
    the answer was not a readable list)."""

    answer: Answer
    before: float
    after: float
    body: Any = None
    registrations: tuple[Registration, ...] = ()
    entries: tuple[dict[str, Any], ...] = ()


class EntryRules:
    """The rules of one run that work on a registered canary."""

    def __init__(self, client: ReadbackClient, calls: Calls, kommunenummer: str) -> None:
        self.client = client
        self.calls = calls
        self.kommunenummer = kommunenummer

    async def run(self, listing: Listing, canary_id: str | None) -> list[Outcome]:
        """An outcome for each rule of :data:`NEEDING`, in that order."""
        entry_id = canary_id
        if entry_id is None and listing.registrations:
            entry_id = min(listing.registrations, key=lambda found: found.registered_at).canary_id
        if entry_id is None:
            return [skipped(rule, NO_CANARY) for rule in NEEDING]
        listed = [found for found in listing.registrations if found.canary_id == entry_id]
        answer = await self.calls.authorised(
            "GET registered canary", "GET", self.client.url(self.kommunenummer, f"/{entry_id}")
        )
        fetched = _read(answer, entry_id)
        if isinstance(fetched, str):
            given = " (the canary given with --canary-id)" if canary_id is not None else ""
            get = failed(CANARY_GET, f"{fetched}{given}")
        else:
            get = _compare(fetched, entry_id, listed, listing.entries)
        if listed:
            registered: float | None = min(found.registered_at for found in listed)
        else:
            registered = None if isinstance(fetched, str) else fetched[0].registered_at
        if registered is None:
            missing = f"skipped: canary {entry_id} is not registered for municipality {self.kommunenummer}"
            return [get, *(skipped(rule, missing) for rule in NEEDING[1:])]
        excludes = await self._excludes(registered)
        includes = await self._includes(entry_id, registered)
        # Last: it removes the canary the other rules list.
        if canary_id is None:
            return [get, excludes, includes, skipped(DELETE_LISTED, NOT_GIVEN)]
        return [get, excludes, includes, await self._delete(entry_id, registered)]

    async def _since(self, call: str, since: float) -> list[Registration] | UpstreamError:
        return await self.calls.probe(call, lambda: self.client.since(self.kommunenummer, since))

    async def _excludes(self, registered: float) -> Outcome:
        since = registered + SINCE_STEP
        shown = f"since={to_rfc3339(since)}"
        found = await self._since("list since after the canary", since)
        if isinstance(found, UpstreamError):
            return failed(SINCE_EXCLUDES_EARLIER, f"{shown}: {failure_text(found)}")
        early = [registration for registration in found if registration.registered_at < since]
        if early:
            return failed(
                SINCE_EXCLUDES_EARLIER,
                f"{shown} still listed {len(early)} registration(s) from before it (canary "
                f"{early[0].canary_id}, registered {to_rfc3339(early[0].registered_at)}): "
                "since is not applied",
            )
        return passed(SINCE_EXCLUDES_EARLIER, f"{shown}: {len(found)} listed, none registered before it")

    async def _includes(self, canary_id: str, registered: float) -> Outcome:
        missing: list[str] = []
        for label, since in (("at", registered), ("a minute before", registered - EARLIER)):
            found = await self._since(f"list since {label} the canary", since)
            if isinstance(found, UpstreamError):
                return failed(SINCE_INCLUDES, f"since={to_rfc3339(since)}: {failure_text(found)}")
            if canary_id not in {registration.canary_id for registration in found}:
                missing.append(f"since={to_rfc3339(since)} ({label} its registeredAt)")
        if missing:
            return failed(SINCE_INCLUDES, f"canary {canary_id} not listed with " + " nor ".join(missing))
        return passed(SINCE_INCLUDES, f"canary {canary_id} listed with since at and a minute before it")

    async def _delete(self, canary_id: str, registered: float) -> Outcome:
        url = self.client.url(self.kommunenummer, f"/{canary_id}")
        first = await self.calls.authorised("DELETE registered canary", "DELETE", url)
        if first.status != 204 or first.error is not None:
            return failed(DELETE_LISTED, f"{first.describe()}; expected 204 (removed)")
        found = await self._since("list after DELETE", registered - EARLIER)
        if isinstance(found, UpstreamError):
            return failed(DELETE_LISTED, f"204, then the list failed: {failure_text(found)}")
        if canary_id in {registration.canary_id for registration in found}:
            return failed(DELETE_LISTED, f"204, but canary {canary_id} is still listed")
        again = await self.calls.authorised("GET deleted canary", "GET", url)
        twice = await self.calls.authorised("DELETE deleted canary", "DELETE", url)
        for what, answer in (("GET of the deleted canary", again), ("a second DELETE", twice)):
            if answer.status != 404:
                return failed(DELETE_LISTED, f"204, but {what} answers {answer.describe()}; expected 404")
        return passed(DELETE_LISTED, f"204; canary {canary_id} then unlisted, GET 404, a second DELETE 404")


def _read(answer: Answer, entry_id: str) -> tuple[Registration, dict[str, Any]] | str:
    """The canary in a GET answer (as Kanari reads it, and the object), or what is wrong with it."""
    if answer.status != 200 or answer.error is not None:
        return f"{answer.describe()} for canary {entry_id}; expected 200"
    try:
        body = answer.json()
    except ValueError as error:
        return f"HTTP 200 but the answer is not JSON ({error})"
    problems = contract.problems(body, "Canary")
    if problems:
        return "; ".join(problems[: contract.SHOWN_PROBLEMS])
    try:
        found = parse_registration(body)
    except InvalidResponseError as error:
        return f"Kanari cannot read it: {failure_text(error)}"
    if found.canary_id != entry_id:
        return f"asked for canary {entry_id}, answered canary {found.canary_id}"
    return found, body


def _compare(
    read: tuple[Registration, dict[str, Any]],
    entry_id: str,
    listed: list[Registration],
    entries: tuple[dict[str, Any], ...],
) -> Outcome:
    """``canary.get`` for a readable answer: it must be the (first) registration the list shows."""
    fetched, body = read
    if not listed:
        return passed(CANARY_GET, f"HTTP 200 for canary {entry_id} (not in the widest list)")
    first = min(listed, key=lambda registration: registration.registered_at)
    if fetched.marker != first.marker:
        return failed(CANARY_GET, f"the marker differs from the list's entry for canary {entry_id}")
    channels = {entry.get("channel") for entry in entries if entry.get("canaryId") == entry_id}
    if body.get("channel") not in channels:
        return failed(CANARY_GET, f"channel {body.get('channel')!r} differs from the list's entry")
    if abs(fetched.registered_at - first.registered_at) >= 0.001:
        return failed(
            CANARY_GET,
            f"registeredAt {to_rfc3339(fetched.registered_at)} is not the first listed registration "
            f"({to_rfc3339(first.registered_at)})",
        )
    return passed(CANARY_GET, f"HTTP 200 for canary {entry_id}, the same object as listed")
