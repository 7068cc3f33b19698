"""Network work under way: tasks that each end in at most one :class:`~probe.engine.results.Result`.

A slow upstream must never stall a tick, so every request runs as an asyncio task and its result waits
here until the next tick applies it. A task that crashes (a bug in one check) is logged and gives no
result; the others go on. Its traceback is logged once a minute at most per kind of crash: a crash on
every poll must not bury the log (unknown verdicts, not the log, are what raise the alarm).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from probe.engine.log_throttle import LogThrottle
from probe.engine.results import Result

log = logging.getLogger("kanari.poll")


class Tasks:
    """Tasks under way, their results, and the canaries they are about (``busy``)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._crashes = LogThrottle(log, now)
        self._tasks: set[asyncio.Task[None]] = set()
        self._results: list[Result] = []
        self.busy: set[str] = set()

    def start(
        self,
        work: Callable[[], Awaitable[Result]],
        *,
        about: str | None = None,
        done: Callable[[], None] | None = None,
    ) -> None:
        """Run ``work`` in a task. ``about`` (a canary id) is busy until it ends; ``done`` runs when it
        ends, whatever the outcome."""
        if about is not None:
            self.busy.add(about)

        async def run() -> None:
            result: Result | None = None
            try:
                result = await work()
            except Exception as error:  # a bug in one check must not stop the others
                self._crashes.log(
                    logging.ERROR,
                    type(error).__name__,
                    f"check crashed: canary={about or '-'}: {type(error).__name__}",
                    exc_info=True,
                )
            finally:
                if about is not None:
                    self.busy.discard(about)
                if done is not None:
                    done()
            if result is not None:
                self._results.append(result)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def take(self) -> list[Result]:
        """The results that arrived since the last call, in arrival order."""
        results, self._results = self._results, []
        return results

    async def settle(self, within: float | None = None) -> int:
        """Wait for every task under way (tests, ``kanari once``, shutdown). With ``within``, wait at
        most that many seconds, then cancel what is still running; returns how many were cancelled."""
        if within is None:
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            return 0
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(list(self._tasks), timeout=max(0.0, within))
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)
