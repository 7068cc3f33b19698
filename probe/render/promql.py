"""Small helpers for writing PromQL in the renderers (selectors, label lists, number literals)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from probe.hops import Channel, Owner
from probe.render.durations import prom_duration

ROUTE_LABELS = ("channel", "municipality", "vendor")
"""The labels that identify a route's series (``municipality`` is the kommunenummer)."""
ROUTE_KEY = ("channel", "municipality")
"""The labels that identify a route itself (its timing gauges carry no vendor)."""

# The owner paged when a whole channel is down: the operator of its first hops (DESIGN section 2).
CHANNEL_OPERATOR: dict[Channel, Owner] = {Channel.PORTAL: Owner.KS, Channel.ALTINN: Owner.DIGDIR}


def selector(metric: str, *matchers: str) -> str:
    """``metric{m1,m2}``; ``matchers`` are written as PromQL (``'channel="portal"'``)."""
    return f"{metric}{{{','.join(matchers)}}}" if matchers else metric


def by(*labels: str) -> str:
    """``by (a, b)``."""
    return f"by ({', '.join(labels)})"


def on(*labels: str) -> str:
    """``on (a, b)``."""
    return f"on ({', '.join(labels)})"


def window(seconds: float) -> str:
    """A range selector suffix ``[45m30s]``."""
    return f"[{prom_duration(seconds)}]"


def number(value: float) -> str:
    """A float literal without binary noise (``14.4 * 0.01`` → ``0.144``)."""
    return f"{round(value, 9):g}"


def one_of(values: Iterable[str]) -> str:
    """A regular expression alternative for a ``=~`` matcher, in sorted order."""
    return "|".join(sorted(values))


def matcher(label: str, values: Iterable[str], negate: bool = False) -> str:
    """``label="v"`` (or ``!=``) for one value, ``label=~"a|b"`` (or ``!~``) for several."""
    chosen = sorted(set(values))
    if len(chosen) == 1:
        return f'{label}{"!=" if negate else "="}"{chosen[0]}"'
    return f'{label}{"!~" if negate else "=~"}"{one_of(chosen)}"'


def indent(text: str, spaces: int = 2) -> str:
    """``text`` with every line indented (for nesting expressions readably)."""
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


# A Kanari series in an expression: a raw metric (``kanari_in_flight``, ``kanari_hop_seconds_bucket``) or
# a recording rule (``channel:kanari_routes:count``), with its matchers if it has any. Recording rules are
# named ``level:metric:operation`` and start with a label list, so neither kind can be confused with a
# function, a label name or a quoted value.
_SERIES = re.compile(
    r"(?<![\w:])(?P<name>[a-z_]+:kanari_[a-z0-9_]+:[a-z0-9_]+|kanari_[a-z0-9_]+)(?![\w:(])"
    r"(?P<matchers>\{[^}]*\})?"
)


def scoped(expr: str, raw: Sequence[str], recorded: Sequence[str] = ()) -> str:
    """``expr`` with ``raw`` matchers added to every Kanari metric and ``recorded`` ones to every Kanari
    recording rule (``'job="kanari"'``): the one place that confines a rule or a panel to one
    deployment's scrape job, so no expression has to remember to.

    Matchers go after the ones already written (``kanari_x{channel="portal",job="kanari"}``)."""

    def add(match: re.Match[str]) -> str:
        name = match.group("name")
        extra = recorded if ":" in name else raw
        if not extra:
            return match.group(0)
        written = (match.group("matchers") or "{}")[1:-1].strip().rstrip(",")
        return selector(name, *([written] if written else []), *extra)

    return _SERIES.sub(add, expr)
