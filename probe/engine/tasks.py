"""Network work under way: tasks that each end in at most one :class:`~probe.engine.results.Result`.

A slow upstream must never stall a tick, so every request runs as an asyncio task and its result waits
here until the next tick applies it. A task that crashes (a bug in one check) is logged and gives no
result; the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from probe.engine.results import Result

log = logging.getLogger("kanari.poll")


class Tasks:
    """Tasks under way, their results, and the canaries they are about (``busy``)."""

    def __init__(self) -> None:
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
            except Exception:  # a bug in one check must not stop the others
                log.exception("check crashed: canary=%s", about or "-")
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

    async def settle(self) -> None:
        """Wait for every task under way (tests, ``kanari once``, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
