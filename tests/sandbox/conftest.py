"""Fixtures: one state dir for the session (keys are generated once), and a sandbox on a free loopback
port with a FakeClock for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from probe.clock import FakeClock
from probe.sandbox.server import running
from probe.sandbox.settings import DelaySettings, PeopleSettings, SandboxSettings
from probe.sandbox.world import World
from tests.sandbox.kit import Kit


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sandbox-state")
    World.build(SandboxSettings(state_dir=directory), "http://127.0.0.1:1")  # generates the keys once
    return directory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# The protocol tests look at the inbox schedule around the clock: the FakeClock starts on New Year's Day,
# when nobody is at work. The people's office hours have their own tests (test_people.py, test_world.py).
ROUND_THE_CLOCK = DelaySettings(people=PeopleSettings(office_hours=False))


@pytest.fixture
def settings(state_dir: Path) -> SandboxSettings:
    return SandboxSettings(listen="127.0.0.1:0", state_dir=state_dir, delays=ROUND_THE_CLOCK)


@pytest.fixture
async def kit(settings: SandboxSettings, clock: FakeClock) -> AsyncIterator[Kit]:
    async with running(settings, clock) as sandbox, httpx.AsyncClient(timeout=30) as http:
        yield Kit(sandbox, http, clock)
