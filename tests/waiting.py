"""Waiting in tests without fixed sleeps: for a condition, with a bound, or for a condition to hold over a
window the system under test defines (an absence can only be shown over time)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None],
    seconds: float,
    what: str,
    every: float = 0.2,
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that, for at most ``seconds``;
    on timeout the error names ``what`` and adds ``explain()`` (the state that was waited on)."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = f": {explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what}{detail}")
        time.sleep(every)


def holds_for(condition: Callable[[], bool], seconds: float, what: str, every: float = 0.2) -> None:
    """Check ``condition`` throughout ``seconds``, failing the moment it does not hold.

    Only for absences, with ``seconds`` taken from the system's own configuration (the longest gap it
    allows), never as a pause."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not condition():
            raise AssertionError(f"{what} stopped holding")
        time.sleep(every)
    if not condition():
        raise AssertionError(f"{what} stopped holding")
