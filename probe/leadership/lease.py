"""Exactly one replica leads: a lease in the ledger's database, renewed every third of its length.

:class:`Leadership` is the lease as one replica sees it, driven by :meth:`Leadership.step` (the service
calls it every :attr:`Leadership.interval` while it leads, every scheduler tick while it stands by) and a
monotonic clock injected for tests. The lease itself is
a row in PostgreSQL (:class:`probe.ledger.postgres.PostgresLease`): holder, fencing epoch and expiry, all
timed by the database's clock, so replicas never compare their own clocks.

- A standby tries to take the lease at every step: it gets it once it is free or expired, with the
  epoch raised by one. A dead leader's lease runs out ``seconds`` after its last renewal, so a standby
  stepping every tick leads within ``seconds`` plus one tick.
- A leader renews at every step. Renewal fails in two ways: the database does not answer (the leader
  keeps its epoch and tries again, but :meth:`Leadership.leading` turns false by its *own* clock
  ``margin`` before the lease could have run out, so it stops sending before anyone else may start), or
  the epoch is no longer its own (another took over: :attr:`Leadership.lost`; the replica must stop).
- The local deadline is measured from when the renewal was *sent*: the database's expiry is at least
  ``seconds`` after that, so the deadline is before it as long as the two clocks run at about the same
  rate; ``margin`` (a sixth of the lease) covers their drift and the moment between a check and a send.

Fencing (every write checks the epoch in its transaction) is what makes a replica that is wrong about
its lease harmless: :mod:`probe.ledger.postgres`.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from probe.errors import LedgerError

log = logging.getLogger("kanari.leadership")


class LeaseStore(Protocol):
    """Where the lease is kept (:class:`probe.ledger.postgres.PostgresLease`)."""

    def acquire(self, holder: str, seconds: float) -> int | None:
        """Take the lease if free or expired: the new epoch, else None."""

    def renew(self, holder: str, epoch: int, seconds: float) -> bool:
        """Extend it; False if ``epoch`` is no longer the lease's."""

    def release(self, holder: str, epoch: int) -> None:
        """Let it run out now."""

    def close(self) -> None:
        """Close the connection."""


class Role(enum.StrEnum):
    """What a replica does: leads (sends, follows, counts) or stands by, ready to take over."""

    LEADER = "leader"
    STANDBY = "standby"


class Step(enum.Enum):
    """What one :meth:`Leadership.step` did."""

    TOOK = "took"  # was standby, now leads
    RENEWED = "renewed"
    WAITING = "waiting"  # standby: another holds the lease
    UNREACHABLE = "unreachable"  # the database did not answer; nothing changed
    LOST = "lost"  # the lease's epoch is another's: this replica must stop


def holder_name() -> str:
    """This process's name on the lease: host, pid and a random part (a restarted pid is another)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leadership:
    """The lease of one replica: ``holder`` on ``store``, ``seconds`` long."""

    def __init__(
        self,
        store: LeaseStore,
        seconds: float,
        *,
        holder: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.seconds = seconds
        self.holder = holder or holder_name()
        self.interval = seconds / 3
        self.margin = seconds / 6
        self.epoch: int | None = None
        self.lost = False
        self._monotonic = monotonic
        self._valid_until = float("-inf")

    @property
    def role(self) -> Role:
        """Leader while :meth:`leading`, else standby."""
        return Role.LEADER if self.leading() else Role.STANDBY

    def leading(self) -> bool:
        """True while this replica holds an epoch and its own clock says the lease cannot have run out."""
        return self.epoch is not None and not self.lost and self._monotonic() < self._valid_until

    def step(self) -> Step:
        """Take the lease (standby) or renew it (leader), once. Blocks on the database (a worker thread's
        job); an unreachable database changes nothing but the time left."""
        if self.lost:
            return Step.LOST
        sent = self._monotonic()
        try:
            if self.epoch is None:
                epoch = self.store.acquire(self.holder, self.seconds)
                if epoch is None:
                    return Step.WAITING
                self.epoch = epoch
                self._valid_until = sent + self.seconds - self.margin
                log.info("took the leader lease (epoch %d, %s): this replica sends now", epoch, self.holder)
                return Step.TOOK
            if not self.store.renew(self.holder, self.epoch, self.seconds):
                self.lost = True
                log.error(
                    "lost the leader lease (epoch %d): another replica took over; this one stops", self.epoch
                )
                return Step.LOST
        except LedgerError as error:
            left = self._valid_until - self._monotonic()
            if self.epoch is not None:
                log.warning(
                    "cannot renew the leader lease (%s); %.1f s left before sending stops", error, left
                )
            else:
                log.warning("standby cannot reach the lease (%s)", error)
            return Step.UNREACHABLE
        self._valid_until = sent + self.seconds - self.margin
        return Step.RENEWED

    def release(self) -> None:
        """At a clean stop: give the lease up so a standby takes over at its next step, not after the
        lease ran out. A failure is only logged (the lease then runs out by itself)."""
        if self.epoch is None or self.lost:
            return
        try:
            self.store.release(self.holder, self.epoch)
            log.info("released the leader lease (epoch %d)", self.epoch)
        except LedgerError as error:
            log.warning("could not release the leader lease (%s); it runs out by itself", error)
        self.epoch = None

    def close(self) -> None:
        """Close the lease's connection."""
        self.store.close()
