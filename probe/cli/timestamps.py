"""Times as the read-only commands show them: ISO 8601 in UTC for people and scripts alike, with the Unix
seconds beside them in JSON (``kanari incidents``, ``kanari evidence``)."""

from __future__ import annotations

import datetime as dt


def iso(instant: float | None) -> str | None:
    """``instant`` (Unix seconds) as ``2026-01-01T00:00:00Z`` (milliseconds when it has them)."""
    if instant is None:
        return None
    moment = dt.datetime.fromtimestamp(instant, tz=dt.UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def shown(instant: float | None) -> str:
    """``instant`` for a text table: ``2026-01-01 00:00:00`` (UTC), or ``-``."""
    if instant is None:
        return "-"
    return dt.datetime.fromtimestamp(instant, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def both(name: str, instant: float | None) -> dict[str, object]:
    """The JSON pair of one time: ``name`` in ISO 8601 UTC and ``name_unix`` in seconds (both null when
    there is none)."""
    return {name: iso(instant), f"{name}_unix": instant}
