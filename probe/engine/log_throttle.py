"""Logging a recurring problem at most once per interval, so a failure that repeats on every tick (a full
disk, a crashing check) is one readable line a minute instead of hundreds a second."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

# Long enough to keep a log readable through an outage, short enough that a tail of the log shows the
# problem is still there.
DEFAULT_INTERVAL = 60.0


class LogThrottle:
    """Logs the first occurrence of each ``key``, then at most one line per ``interval`` saying how many
    were held back meanwhile: on the next occurrence after the interval, or from :meth:`flush` once the
    interval is over even if none comes (so a burst that stops is still counted in the log)."""

    def __init__(
        self, logger: logging.Logger, now: Callable[[], float], interval: float = DEFAULT_INTERVAL
    ) -> None:
        self._logger = logger
        self._now = now
        self._interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        # The newest held-back line of each key (level, message, fields): what a summary repeats.
        self._newest: dict[str, tuple[int, str, Mapping[str, object]]] = {}

    def log(
        self,
        level: int,
        key: str,
        message: str,
        *,
        exc_info: bool = False,
        extra: Mapping[str, object] | None = None,
    ) -> bool:
        """Log ``message`` (with the structured fields ``extra``) unless ``key`` was logged less than
        ``interval`` ago; True if it was."""
        now = self._now()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._held[key] = self._held.get(key, 0) + 1
            self._newest[key] = (level, message, extra or {})
            return False
        self._emit(level, key, message, extra or {}, now, exc_info=exc_info)
        return True

    def flush(self) -> int:
        """Log the newest held-back line of every key whose interval is over, with how many more were
        held back besides it; returns how many lines were logged."""
        now = self._now()
        due = [
            key for key, last in self._last.items() if self._held.get(key) and now - last >= self._interval
        ]
        for key in due:
            level, message, extra = self._newest[key]
            # The newest held line is logged itself: it stands for the others held with it.
            self._held[key] -= 1
            self._emit(level, key, message, extra, now)
        return len(due)

    def clear(self, key: str) -> int:
        """Forget ``key`` (the problem ended): returns how many were held back since its last line."""
        self._last.pop(key, None)
        self._newest.pop(key, None)
        return self._held.pop(key, 0)

    def _emit(
        self,
        level: int,
        key: str,
        message: str,
        extra: Mapping[str, object],
        now: float,
        *,
        exc_info: bool = False,
    ) -> None:
        last = self._last.get(key)
        held = self._held.pop(key, 0)
        self._newest.pop(key, None)
        if held:
            message = f"{message} ({held} more like it in the last {now - (last or now):.0f} s)"
        # ``repeats``: the lines this one stands for besides itself (a key for --log-format json), so the
        # sum of ``repeats + 1`` over a key's lines is how often it happened.
        self._logger.log(level, "%s", message, exc_info=exc_info, extra={**extra, "repeats": held})
        self._last[key] = now
