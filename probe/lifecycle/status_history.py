"""A canary's status history as the upstream last reported it, kept as evidence (``kanari evidence``).

KS's ``status`` list and Altinn's ``statusHistory`` are what a vendor or Digdir will compare with their
own logs in a dispute, so they are kept as received (upstream order, upstream times) rather than only
as the hops Kanari derived from them. Stored as compact JSON, a list of ``[unix seconds, status,
text]``; the text is upstream words, cleaned and bounded like every diagnostic (:mod:`probe.diagnostics`),
and the list keeps its newest :data:`MAX_EVENTS` entries, so a row stays small whatever an upstream sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol

from probe import diagnostics
from probe.lifecycle.record import CanaryRecord

# A KS history has at most six states and Altinn's a dozen; more is an upstream looping.
MAX_EVENTS = 50
MAX_STATUS = 64

Event = tuple[float, str, str]
"""(unix seconds, status, text): one entry as stored."""


class StatusEvent(Protocol):
    """One entry of an upstream's history (:class:`probe.channels.base.StatusEvent`)."""

    @property
    def at(self) -> float: ...
    @property
    def status(self) -> str: ...
    @property
    def text(self) -> str: ...


def encode(events: Iterable[StatusEvent]) -> str:
    """The stored form of ``events`` (upstream order kept, the newest :data:`MAX_EVENTS`)."""
    entries = [
        [event.at, diagnostics.clean(event.status)[:MAX_STATUS], diagnostics.clean(event.text)]
        for event in events
    ][-MAX_EVENTS:]
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":"))


def seen(record: CanaryRecord, events: Iterable[StatusEvent]) -> None:
    """A status check saw ``events``: the canary's history is what it saw last (an empty answer keeps
    what was seen before: upstreams do not forget, so an empty one says nothing)."""
    listed = tuple(events)
    if listed:
        record.history = encode(listed)


def decode(text: str | None) -> list[Event]:
    """The entries of a stored history (none for a canary without one, or a row that cannot be read)."""
    if not text:
        return []
    try:
        entries = json.loads(text)
    except ValueError:
        return []
    if not isinstance(entries, list):
        return []
    return [
        (float(entry[0]), str(entry[1]), str(entry[2]))
        for entry in entries
        if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], int | float)
    ]
