"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import coverage
import pytest
from hypothesis import settings

from tests.postgres import Cluster, running_cluster

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"

# ``make test-fast`` runs property tests with a tenth of their examples (``--hypothesis-profile=fast``);
# ``make test`` with all of them.
settings.register_profile("fast", max_examples=10)


def examples(full: int) -> int:
    """``full`` examples under the default profile, scaled with the active profile's ``max_examples``."""
    active = settings.default
    assert active is not None
    return max(5, full * active.max_examples // 100)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def untraced() -> Iterator[None]:
    """Pause coverage's tracer (when ``make test`` runs one) for the test: for the soak, a simulated day
    on every route in one process, which tracing makes twice as slow while other tests cover its lines."""
    tracer = coverage.Coverage.current()
    if tracer is None:
        yield
        return
    tracer.stop()
    try:
        yield
    finally:
        tracer.start()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A real PostgreSQL cluster (:mod:`tests.postgres`) for the whole session (one per xdist worker);
    each test takes a database of its own from it."""
    with running_cluster() as cluster:
        yield cluster
