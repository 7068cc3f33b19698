"""The lease as one replica sees it, on a scripted store and a clock the test moves: when it leads, when
it stops sending by its own clock, when it has lost for good."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from probe.errors import LedgerError
from probe.leadership.lease import Leadership, Role, Step, holder_name

SECONDS = 15.0


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Store:
    """A lease store answering as scripted: the epoch a take gives (None: held by another), whether a
    renewal holds, or an error for an unreachable database."""

    epoch: int | None = 1
    renews: bool = True
    down: bool = False
    calls: list[str] = dataclasses.field(default_factory=list)

    def _reach(self, call: str) -> None:
        self.calls.append(call)
        if self.down:
            raise LedgerError("lease query failed: connection refused")

    def acquire(self, holder: str, seconds: float) -> int | None:
        self._reach(f"acquire {holder} {seconds:g}")
        return self.epoch

    def renew(self, holder: str, epoch: int, seconds: float) -> bool:
        self._reach(f"renew {holder} {epoch} {seconds:g}")
        return self.renews

    def release(self, holder: str, epoch: int) -> None:
        self._reach(f"release {holder} {epoch}")

    def close(self) -> None:
        self.calls.append("close")


def leadership(store: Store, clock: Clock) -> Leadership:
    return Leadership(store, SECONDS, holder="a", monotonic=clock)


def test_renewal_every_third_and_a_margin_of_a_sixth() -> None:
    lease = leadership(Store(), Clock())
    assert (lease.interval, lease.margin) == (5.0, 2.5)


def test_a_standby_waits_while_another_holds_the_lease_then_takes_it() -> None:
    store, clock = Store(epoch=None), Clock()
    lease = leadership(store, clock)
    assert lease.step() is Step.WAITING
    assert lease.role is Role.STANDBY
    store.epoch = 4
    assert lease.step() is Step.TOOK
    assert (lease.epoch, lease.role) == (4, Role.LEADER)
    assert store.calls == ["acquire a 15", "acquire a 15"]


def test_a_leader_that_cannot_renew_stops_by_its_own_clock_before_the_lease_runs_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = Store(), Clock()
    lease = leadership(store, clock)
    assert lease.step() is Step.TOOK  # at 500: the database's lease runs to 515 at the earliest
    store.down = True
    clock.now += lease.interval
    with caplog.at_level(logging.WARNING, "kanari.leadership"):
        assert lease.step() is Step.UNREACHABLE
    assert "cannot renew the leader lease (lease query failed: connection refused); 7.5 s left" in caplog.text
    assert lease.leading()  # one renewal missed: still well inside the lease
    clock.now = 500 + SECONDS - lease.margin - 0.001
    assert lease.leading()
    clock.now = 500 + SECONDS - lease.margin
    assert not lease.leading()  # 2.5 s before the database would let a standby take over
    assert lease.epoch == 1  # not lost: nobody else has taken it yet
    # The database answers again and nobody took over: the same epoch leads on.
    store.down = False
    assert lease.step() is Step.RENEWED
    assert lease.leading()


def test_the_deadline_counts_from_when_the_renewal_was_sent() -> None:
    clock = Clock()

    class Slow(Store):
        def renew(self, holder: str, epoch: int, seconds: float) -> bool:
            clock.now += 4.0  # the answer takes 4 s
            return True

    lease = leadership(Slow(), clock)
    assert lease.step() is Step.TOOK
    clock.now = 600.0
    assert lease.step() is Step.RENEWED
    clock.now = 600.0 + SECONDS - lease.margin - 0.001
    assert lease.leading()
    clock.now = 600.0 + SECONDS - lease.margin
    assert not lease.leading()


def test_a_renewal_refused_means_lost_for_good(caplog: pytest.LogCaptureFixture) -> None:
    store, clock = Store(), Clock()
    lease = leadership(store, clock)
    assert lease.step() is Step.TOOK
    store.renews = False
    with caplog.at_level(logging.ERROR, "kanari.leadership"):
        assert lease.step() is Step.LOST
    assert "lost the leader lease (epoch 1): another replica took over" in caplog.text
    assert not lease.leading()
    # Never tries again, and never releases what is no longer its own.
    store.renews = True
    assert lease.step() is Step.LOST
    lease.release()
    assert store.calls == ["acquire a 15", "renew a 1 15"]


def test_a_standby_that_cannot_reach_the_database_stays_one(caplog: pytest.LogCaptureFixture) -> None:
    lease = leadership(Store(down=True), Clock())
    with caplog.at_level(logging.WARNING, "kanari.leadership"):
        assert lease.step() is Step.UNREACHABLE
    assert "standby cannot reach the lease (lease query failed: connection refused)" in caplog.text
    assert lease.role is Role.STANDBY


def test_release_gives_the_lease_up_once_and_a_failure_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Store()
    lease = leadership(store, Clock())
    lease.release()  # not leading: nothing to give up
    assert lease.step() is Step.TOOK
    lease.release()
    assert lease.epoch is None
    assert store.calls == ["acquire a 15", "release a 1"]
    assert lease.step() is Step.TOOK
    store.down = True
    with caplog.at_level(logging.WARNING, "kanari.leadership"):
        lease.release()
    assert "could not release the leader lease (lease query failed: connection refused)" in caplog.text
    lease.close()
    assert store.calls[-1] == "close"


def test_holder_names_differ_between_starts() -> None:
    assert holder_name() != holder_name()
