"""``kanari status``: each route's last verdict from the ledger, with the blame when it was not delivered."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.cli.status import render_status
from tests.e2e.harness import harness

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_status_table_shows_last_verdicts_and_blame(tmp_path: Path) -> None:
    async with harness(tmp_path, "4601,0301") as probe:
        await probe.fault("vendor.receipt_without_store", "4601")
        await probe.run_for(150)
        table = render_status(probe.config, probe.runtime.ledger.latest_per_route())
        lines = table.splitlines()
        assert lines[0].split() == ["ROUTE", "MUNICIPALITY", "VENDOR", "VERSION", "LAST", "VERDICT",
                                    "BLAMED", "LATENCY", "DEADLINE", "SENT", "(UTC)", "IN", "FLIGHT",
                                    "DETAIL"]  # fmt: skip
        rows = {line.split()[0]: line for line in lines[1:]}
        assert set(rows) == {"portal/4601", "altinn/4601", "portal/0301", "altinn/0301"}
        assert "lost" in rows["portal/4601"]
        assert "registered/vendor" in rows["portal/4601"]
        assert "delivered" in rows["portal/0301"]
        assert "nordlys" in rows["portal/4601"]
        # Oslo's office 03 takes only v1 of the report; Bergen's default receiver takes v2.
        assert rows["portal/0301"].split()[3] == "v1"
        assert rows["portal/4601"].split()[3] == "v2"
        assert rows["altinn/4601"].split()[3] == "v1"
        problems = render_status(probe.config, probe.runtime.ledger.latest_per_route(), only_problems=True)
        assert [line.split()[0] for line in problems.splitlines()[1:]] == ["portal/4601"]
