"""``kanari run`` whose scheduler stops ticking after ``STALL_AFTER`` seconds while its HTTP surface keeps
answering: the "stuck scheduler" that only the heartbeat gauge can reveal (``up`` stays 1)."""

from __future__ import annotations

import asyncio
import os
import sys

from probe.cli import main
from probe.scheduling.ticks import TickScheduler

original_start = TickScheduler.start


def start(self: TickScheduler) -> None:
    original_start(self)
    asyncio.get_running_loop().call_later(float(os.environ["STALL_AFTER"]), self.shutdown)


# Patching the product's method in this process is the point; mypy forbids assigning to a method.
TickScheduler.start = start  # type: ignore[method-assign]
raise SystemExit(main(sys.argv[1:]))
