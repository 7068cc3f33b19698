"""Durations in the configuration: how they are written (``90s``, ``5m``, ``1h30m``, ``7d`` or seconds),
how they are shown, and the bounds each kind of duration must keep.

A duration is refused unless it is finite and inside its kind's bounds (:data:`BOUNDS`): YAML reads
``.inf`` and ``.nan`` as floats, and ``interval: .inf`` would silence a route while ``config check``
called it valid. Each kind is an annotated type (:data:`SendInterval`, :data:`PollInterval`, ...), so a
field says what it is and its bounds follow.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Annotated

from pydantic import BeforeValidator

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0


def parse_duration(value: object) -> float:
    """Seconds from a number or a Prometheus-style duration string (``90s``, ``5m``, ``1h30m``, ``7d``);
    positive and finite, whatever the kind."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '5m'")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            # An integer too large for a float (YAML reads any run of digits as one): as good as infinite.
            seconds = math.inf
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or "".join(number + unit for number, unit in parts) != text:
                raise ValueError(
                    f"not a duration: {value!r} (use seconds or e.g. '90s', '5m', '1h30m', '7d')"
                )
            seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    else:
        raise ValueError("a duration is a number of seconds or a string such as '5m'")
    # NaN compares false with everything, so every later check (``<= 0``, a bound, a deadline against
    # a latency) would let it through: refuse it, and infinity, before any of them.
    if math.isnan(seconds):
        raise ValueError("not a number (YAML reads .nan as 'not a number'): a duration is e.g. '5m'")
    if math.isinf(seconds):
        raise ValueError("must be finite (YAML reads .inf as infinity): a duration is e.g. '5m'")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (``1h30m``, ``45s``); used for rule ``for:`` fields and docs."""
    remaining = round(seconds)
    if remaining <= 0:
        return "0s"
    text = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            text += f"{remaining // size}{unit}"
            remaining %= size
    return text


def human(seconds: float) -> str:
    """A duration as an operator writes it: ``30s``, ``10m``, ``1h30m`` (``0.5s`` below a second)."""
    if seconds >= 1 and float(seconds).is_integer():
        return format_duration(seconds)
    return f"{seconds:g}s"


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The range a kind of duration must lie in, and why (the reason is part of the message)."""

    kind: str
    minimum: float
    maximum: float
    why: str

    def problem(self, seconds: float) -> str | None:
        """Why ``seconds`` is out of bounds, or ``None``."""
        if self.minimum <= seconds <= self.maximum:
            return None
        return f"{self.kind} must be between {human(self.minimum)} and {human(self.maximum)}: {self.why}"


REAL_HOST_MINIMUM_INTERVAL = MINUTE
"""The shortest send interval towards a host other than this machine: each canary there is a real report
that KS or Altinn hands to a municipality's system (and KS sends as paper post when it cannot deliver).
The sandbox, on this machine, may compress time below it (see validation/channels.py)."""

# The bounds of every kind of duration, in one place. Lower bounds stop values that flood an upstream or
# make the probe spin (``interval: 1ms`` sent 114 canaries in 9 s on 3 routes); upper bounds stop values
# that leave the probe blind without saying so (a route sending once a month is not watched). The
# sandbox's compressed timing lies inside them: config/sandbox uses 60 s intervals, 5 s polls and 30 s
# deadlines, the end-to-end tests 3 s intervals, 1 s polls, 1 s latencies, 3 s grace and 1 s timeouts.
SEND_INTERVAL = Bounds(
    "a send interval",
    1.0,
    DAY,
    "sending faster than once a second is a load test (towards a host other than this machine the "
    f"shortest is {human(REAL_HOST_MINIMUM_INTERVAL)}), and a route sending less than daily leaves an "
    "outage unseen for a day",
)
POLL_INTERVAL = Bounds(
    "a poll interval",
    1.0,
    HOUR,
    "every poll is a request per open canary, and polling less than hourly makes every verdict that late",
)
# Altinn mail is fetched on working days: a week covers a long weekend and Easter. KS keeps reports for
# 30 days, so a route judged later than that is reported lost after its reports are gone.
DELIVERY_TIME = Bounds(
    "a delivery time (deadline or normal latency)",
    1.0,
    7 * DAY,
    "a week covers the longest holiday in which a municipality fetches no mail, and a later verdict could "
    "come after KS has deleted the reports it should save",
)
BLIND_GRACE = Bounds(
    "blind_grace",
    1.0,
    DAY,
    "a probe that cannot look says 'unknown' this long after the deadline; more than a day hides that it "
    "is blind",
)
LATE_WINDOW = Bounds(
    "late_window",
    MINUTE,
    30 * DAY,
    "a canary that has not turned up within the 30 days KS keeps reports never will",
)
RETENTION = Bounds(
    "retention",
    DAY,
    366 * DAY,
    "a night's incident must keep its canaries until morning, and the ledger grows with every day kept",
)
# KS keeps reports 30 days since June 2023 (14 before): an incident's recovery date is its window's start
# plus this; a day keeps a night's incident recoverable, a year is longer than KS has ever kept them.
KS_RETENTION_DEFAULT = 30 * DAY
KS_RETENTION = Bounds(
    "ks_retention",
    DAY,
    366 * DAY,
    "KS keeps reports 30 days (14 before June 2023); an incident's recovery date follows from it",
)
LEASE = Bounds(
    "ledger_postgres.lease",
    3.0,
    5 * MINUTE,
    "a replica renews its lease every third of it, so under 3 s is a query a second for nothing; a "
    "standby takes over a dead leader only after it, so more than 5 minutes leaves every route unwatched",
)
# Derived, not chosen: a genuine canary is read back by its deadline plus the late window at the latest.
MARKER_AGE = Bounds(
    "signing.max_age",
    HOUR,
    DELIVERY_TIME.maximum + LATE_WINDOW.maximum,
    "shorter refuses canaries read back after a slow delivery; a marker older than the longest deadline "
    "plus late window can only be a replay",
)
TIMEOUT = Bounds(
    "a timeout",
    0.1,
    5 * MINUTE,
    "shorter fails every TLS handshake; longer lets a hung upstream hold a connection for minutes",
)
ASSERTION_LIFETIME = Bounds(
    "maskinporten.assertion_lifetime",
    10.0,
    120.0,
    "Maskinporten accepts an assertion living at most 120 s, and a few seconds of clock skew fail one "
    "living less than 10 s",
)
REFRESH_MARGIN = Bounds(
    "maskinporten.refresh_margin",
    1.0,
    5 * MINUTE,
    "a margin longer than a token lives (Maskinporten's default: 120 s) fetches a token for every request",
)
DIRECTORY_CACHE = Bounds(
    "channels.portal.directory_cache",
    MINUTE,
    DAY,
    "shorter fetches KS's directory for every canary; longer keeps encrypting for a key KS has rotated",
)


def _bounded(bounds: Bounds) -> Callable[[object], float]:
    def validate(value: object) -> float:
        seconds = parse_duration(value)
        problem = bounds.problem(seconds)
        if problem is not None:
            raise ValueError(problem)
        return seconds

    return validate


SendInterval = Annotated[float, BeforeValidator(_bounded(SEND_INTERVAL))]
PollInterval = Annotated[float, BeforeValidator(_bounded(POLL_INTERVAL))]
DeliveryTime = Annotated[float, BeforeValidator(_bounded(DELIVERY_TIME))]
BlindGrace = Annotated[float, BeforeValidator(_bounded(BLIND_GRACE))]
LateWindow = Annotated[float, BeforeValidator(_bounded(LATE_WINDOW))]
Retention = Annotated[float, BeforeValidator(_bounded(RETENTION))]
KsRetention = Annotated[float, BeforeValidator(_bounded(KS_RETENTION))]
MarkerAge = Annotated[float, BeforeValidator(_bounded(MARKER_AGE))]
Timeout = Annotated[float, BeforeValidator(_bounded(TIMEOUT))]
AssertionLifetime = Annotated[float, BeforeValidator(_bounded(ASSERTION_LIFETIME))]
RefreshMargin = Annotated[float, BeforeValidator(_bounded(REFRESH_MARGIN))]
DirectoryCache = Annotated[float, BeforeValidator(_bounded(DIRECTORY_CACHE))]
LeaseTime = Annotated[float, BeforeValidator(_bounded(LEASE))]
