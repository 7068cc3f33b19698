"""``kanari run`` that kills itself with SIGKILL at one chosen point of a canary's life.

The points are reached by wrapping the probe's own functions in this process only, so the product
code carries no test hooks. ``CRASH_AT`` picks the point:

- ``intent``: right after a batch holding a send intent is committed, before any request leaves;
- ``sent``: after the upstream accepted a send, before the answer is recorded;
- ``poll``: in the middle of following a canary, after a status answer arrived, before it is applied;
- ``cleanup``: after the vendor removed a registered canary, before that is recorded.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from probe.channels.altinn import AltinnChannel
from probe.channels.portal import PortalChannel
from probe.checks.readback import ReadbackClient
from probe.cli import main
from probe.ledger.rows import LedgerCount
from probe.ledger.sqlite import Ledger
from probe.lifecycle.incidents import TrackedIncident
from probe.lifecycle.record import CanaryRecord, State


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def after_async(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        await function(*args, **kwargs)
        die()

    return wrapper


# Patching the product's methods in this process is the point; mypy forbids assigning to a method,
# hence the ignores below.
point = os.environ["CRASH_AT"]
if point == "intent":
    original_save = Ledger.save

    def save(
        self: Ledger,
        records: Iterable[CanaryRecord],
        counts: Mapping[LedgerCount, int] | None = None,
        incidents: Iterable[TrackedIncident] = (),
    ) -> None:
        records = list(records)
        original_save(self, records, counts, incidents)
        if any(record.state is State.INTENT for record in records):
            die()

    Ledger.save = save  # type: ignore[method-assign]
elif point == "sent":
    PortalChannel.send = after_async(PortalChannel.send)  # type: ignore[method-assign]
    AltinnChannel.send = after_async(AltinnChannel.send)  # type: ignore[method-assign]
elif point == "poll":
    PortalChannel.check = after_async(PortalChannel.check)  # type: ignore[method-assign]
elif point == "cleanup":
    ReadbackClient.delete = after_async(ReadbackClient.delete)  # type: ignore[method-assign]
else:
    raise SystemExit(f"unknown CRASH_AT {point!r}")

raise SystemExit(main(sys.argv[1:]))
