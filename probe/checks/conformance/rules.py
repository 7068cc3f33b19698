"""The rules of ``kanari readback verify``: a stable id and a one-line explanation each, and what a run
says about each one.

The ids are part of the interface (vendors quote them in tickets, scripts grep for them): never rename
one; a changed rule gets a new id.
"""

from __future__ import annotations

import dataclasses
import enum


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """One requirement of the read-back v1 contract (``docs/readback-openapi.yaml``)."""

    id: str
    explanation: str


AUTH_NO_TOKEN = Rule("auth.no-token", "without a bearer token the list is refused (401 or 403)")
AUTH_WRONG_TOKEN = Rule("auth.wrong-token", "with a wrong bearer token the list is refused (401 or 403)")
LIST_SHAPE = Rule(
    "list.shape", "the list answers 200 with JSON matching the CanaryList schema, readable by Kanari"
)
LIST_SERVER_TIME = Rule(
    "list.server-time", "serverTime is RFC 3339 with offset and close to this machine's clock"
)
LIST_SINCE_REQUIRED = Rule("list.since-required", "a list call without since answers 400")
LIST_UNKNOWN_MUNICIPALITY = Rule(
    "list.unknown-municipality", "the list of a municipality not served here answers 404"
)
CANARY_UNKNOWN = Rule("canary.unknown", "GET of an unknown canary id answers 404")
DELETE_UNKNOWN = Rule("delete.unknown", "DELETE of an unknown canary id answers 404 (already gone)")
CANARY_GET = Rule("canary.get", "GET of a registered canary answers 200 with its Canary object, as listed")
SINCE_EXCLUDES_EARLIER = Rule(
    "since.excludes-earlier", "nothing registered before since is listed (since after a registration)"
)
SINCE_INCLUDES = Rule(
    "since.includes-at-and-after", "a canary registered at or after since is listed (since is inclusive)"
)
DELETE_LISTED = Rule(
    "delete.listed", "DELETE of a registered canary answers 204; then it is neither listed nor found"
)
LIMITS_TIME = Rule("limits.time", "every answer arrives in full within Kanari's read-back timeout")
LIMITS_SIZE = Rule("limits.size", "every answer fits in the answer size Kanari reads")

RULES: tuple[Rule, ...] = (
    AUTH_NO_TOKEN,
    AUTH_WRONG_TOKEN,
    LIST_SHAPE,
    LIST_SERVER_TIME,
    LIST_SINCE_REQUIRED,
    LIST_UNKNOWN_MUNICIPALITY,
    CANARY_UNKNOWN,
    DELETE_UNKNOWN,
    CANARY_GET,
    SINCE_EXCLUDES_EARLIER,
    SINCE_INCLUDES,
    DELETE_LISTED,
    LIMITS_TIME,
    LIMITS_SIZE,
)
"""Every rule, in the order they run and are printed."""


class Status(enum.StrEnum):
    """What a run found for one rule."""

    PASS = "pass"  # noqa: S105 - a rule's result, not a password
    FAIL = "fail"
    # The rule could not run (it needs a registered canary): neither proven nor disproven.
    SKIP = "skip"


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """One rule's result and what was seen (``detail``: statuses, counts, the first problems)."""

    rule: Rule
    status: Status
    detail: str


def passed(rule: Rule, detail: str) -> Outcome:
    """``rule`` held; ``detail`` says what was seen."""
    return Outcome(rule, Status.PASS, detail)


def failed(rule: Rule, detail: str) -> Outcome:
    """``rule`` was broken; ``detail`` says how."""
    return Outcome(rule, Status.FAIL, detail)


def skipped(rule: Rule, reason: str) -> Outcome:
    """``rule`` could not run; ``reason`` says why (starting with ``skipped:``)."""
    return Outcome(rule, Status.SKIP, reason)
