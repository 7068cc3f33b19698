"""Logging a recurring problem at most once per interval, so a failure that repeats on every tick (a full
disk, a crashing check) is one readable line a minute instead of hundreds a second."""

from __future__ import annotations

import logging
from collections.abc import Callable

# Long enough to keep a log readable through an outage, short enough that a tail of the log shows the
# problem is still there.
DEFAULT_INTERVAL = 60.0


class LogThrottle:
    """Logs the first occurrence of each ``key``, then at most one line per ``interval`` saying how many
    were held back meanwhile."""

    def __init__(
        self, logger: logging.Logger, now: Callable[[], float], interval: float = DEFAULT_INTERVAL
    ) -> None:
        self._logger = logger
        self._now = now
        self._interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *, exc_info: bool = False) -> bool:
        """Log ``message`` unless ``key`` was logged less than ``interval`` ago; True if it was."""
        now = self._now()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        held = self._held.pop(key, 0)
        if held:
            message = f"{message} ({held} more like it in the last {now - (last or now):.0f} s)"
        self._logger.log(level, "%s", message, exc_info=exc_info)
        self._last[key] = now
        return True

    def clear(self, key: str) -> int:
        """Forget ``key`` (the problem ended): returns how many were held back since its last line."""
        self._last.pop(key, None)
        return self._held.pop(key, 0)
