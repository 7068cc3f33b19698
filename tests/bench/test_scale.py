"""The scale part of the benchmark (``python -m bench.scale``) on tiny sizes: every figure is there and
is a positive number, the idle ticks really had nothing due, the prune deletes exactly its backlog.
Never how fast anything was (these machines are too noisy to assert that, and it is the report's job).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench.backlog import prune_backlog
from bench.history import DAY, build
from bench.scale import EXIT_NO_SANDBOX, Plan, Restart, main
from bench.ticks import BenchError, Scene, measure
from probe.lifecycle.record import State
from tests.ledger_view import all_records

TINY = Plan(
    ticks=(("1k", 60), ("10k", 120), ("150k", 200)),
    tick_count=5,
    restarts=(Restart("30d_714", 20, 1.0),),
    backlog=3 * 3600.0,
    notes={"tiny": "a test's sizes"},
)


def test_ticks_and_read_back_give_positive_figures_on_a_tiny_open_set() -> None:
    ticks, readback = asyncio.run(measure(150, 20))
    assert ticks.samples == 20
    assert 0 < ticks.median <= ticks.p99 <= ticks.max
    assert readback.answers == 20
    assert 0 < readback.match <= readback.match_max
    assert readback.tick > 0


def test_an_idle_tick_that_starts_network_work_fails_the_measurement(tmp_path: Path) -> None:
    async def due() -> None:
        scene = Scene(300, tmp_path)  # 100 wait for read-back (no status check), 200 in flight
        try:
            scene.clock.advance(1000.0)  # every first look is due (the deadlines are not yet)
            await scene.idle_ticks(2)
        finally:
            scene.close()

    with pytest.raises(BenchError, match="adapter calls"):
        asyncio.run(due())


def test_the_prune_deletes_its_backlog_while_the_loop_commits(tmp_path: Path) -> None:
    history = build(tmp_path / "ledger.sqlite3", routes=10, days=1)
    cutoff = history.start + 6 * 3600.0
    due = sum(1 for r in all_records(history.path) if r.state is State.CLOSED and r.created_at < cutoff)
    figures = asyncio.run(prune_backlog(history, 6 * 3600.0))
    assert figures.rows == due > 0
    assert figures.batches >= 1
    for figure in ("max_block_ms", "baseline_max_block_ms", "commit_max_ms", "longest_lock_ms", "seconds"):
        assert getattr(figures, figure) > 0, figure
    remaining = all_records(history.path)
    assert not any(r.state is State.CLOSED and r.created_at < cutoff for r in remaining[:-50])


def test_without_a_sandbox_every_figure_but_the_restarts_is_written_and_the_exit_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scale.json"
    code = main(["--work", str(tmp_path / "work"), "--out", str(out)], plan=TINY)
    assert code == EXIT_NO_SANDBOX
    assert "no --state-dir and --registry" in capsys.readouterr().err
    figures = json.loads(out.read_text())
    for label in ("1k", "10k", "150k"):
        for key in (
            f"tick_ms_{label}_open_idle", f"tick_ms_{label}_open_idle_p99", f"tick_ms_{label}_open_idle_max",
            f"readback_match_ms_{label}_open", f"readback_tick_ms_{label}_open",
        ):  # fmt: skip
            assert isinstance(figures[key], float), key
            assert figures[key] > 0, key
    for key in ("prune_max_block_ms", "prune_rows", "prune_seconds", "prune_batches", "wall_s"):
        assert isinstance(figures[key], int | float), key
        assert figures[key] > 0, key
    assert figures["prune_backlog_days"] == 3 * 3600.0 / DAY
    assert not any(key.startswith("restart_s_") for key in figures)
    assert figures["notes"] == {"tiny": "a test's sizes"}
    assert not (tmp_path / "work" / "ledgers").exists()  # the synthetic ledgers are removed
