"""The sandbox's people at work (:mod:`probe.sandbox.behaviour.people` in the running world): mail
published on New Year's Day is fetched on the next working day in office hours and read in office time;
a fagsystem importing Altinn mail fetches around the clock."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from probe.clock import FakeClock, parse_rfc3339
from probe.office_time import OfficeHours
from probe.sandbox.server import running
from probe.sandbox.settings import SandboxSettings
from tests.sandbox.kit import Kit

pytestmark = pytest.mark.anyio
OSLO = zoneinfo.ZoneInfo("Europe/Oslo")


@pytest.fixture
async def office_kit(state_dir: Path, clock: FakeClock) -> AsyncIterator[Kit]:
    settings = SandboxSettings(listen="127.0.0.1:0", state_dir=state_dir)  # speed 1: people keep hours
    async with running(settings, clock) as sandbox, httpx.AsyncClient(timeout=30) as http:
        yield Kit(sandbox, http, clock)


async def history(kit: Kit, identifier: str) -> dict[str, float]:
    details = (await kit.details(identifier)).json()
    return {event["status"]: parse_rfc3339(event["statusChanged"]) for event in details["statusHistory"]}


async def test_new_years_mail_waits_for_the_next_working_day(office_kit: Kit) -> None:
    kit = office_kit
    assert kit.world.people is not None
    sent, _ = await kit.send_correspondence("0301")  # Oslo reads its mail in Altinn's inbox
    identifier = str(sent.json()["correspondences"][0]["correspondenceId"])
    kit.advance(12 * 3600)  # noon on New Year's Day: published, nobody at work
    assert "Fetched" not in await history(kit, identifier)
    kit.advance(3 * 86_400)
    seen = await history(kit, identifier)
    fetched = dt.datetime.fromtimestamp(seen["Fetched"], tz=OSLO)
    assert fetched.date() == dt.date(2026, 1, 2)  # Friday, the first working day
    assert OfficeHours().is_open(seen["Fetched"])
    # Read in office time: never while the office is closed.
    assert OfficeHours().is_open(seen["Read"])


async def test_an_import_fetches_at_night_and_on_holidays(office_kit: Kit) -> None:
    kit = office_kit
    sent, _ = await kit.send_correspondence("1146")  # Osterøy's fagsystem imports its Altinn mail
    identifier = str(sent.json()["correspondences"][0]["correspondenceId"])
    kit.advance(2 * 3600)
    assert "Fetched" in await history(kit, identifier)
