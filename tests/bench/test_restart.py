"""The restart measurement (:mod:`bench.restart`) against a real benchmark sandbox on a tiny registry:
the probe starts on a synthetic ledger of the sandbox's own routes, answers, becomes ready and sends,
in a child process and in this one. It asserts what happened, never how fast."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bench.__main__ import sandbox
from bench.history import build, routes_like
from bench.registry import write_registry
from bench.restart import child_routes, open_count, restart, restart_config, restart_in_child
from probe.ledger.sqlite import Ledger
from probe.sandbox.manifest import load_manifest

pytestmark = pytest.mark.slow


def test_the_probe_restarts_on_a_ledger_of_the_sandboxs_routes_and_sends(tmp_path: Path) -> None:
    registry = tmp_path / "registry.csv"
    # 1 000 routes: one is due every 0.9 s of the 15-minute interval, so the first send comes soon.
    write_registry(registry, 500)
    state, work = tmp_path / "sandbox", tmp_path / "work"
    with sandbox(registry, state):
        manifest = load_manifest(state)
        config = restart_config(manifest, work)
        routes = child_routes(config, manifest, registry, 1_000)
        history = build(tmp_path / "ledger.sqlite3", routes=routes_like(routes), days=1, end=time.time())
        opened = open_count(history.path)
        assert opened > 1_000

        child = restart_in_child((state, registry), work, history.path, 1_000, until_send=True)
        assert child.open_canaries == opened
        assert child.first_send is not None
        assert child.healthz_first > 0
        assert 0 < child.ready <= child.first_send

        here = asyncio.run(restart(config, routes, history.path, until_send=False))
        assert here.ready > 0
        assert here.first_send is None or here.first_send > 0  # not waited for
    ledger = Ledger(history.path)  # stopped cleanly: the ledger opens again, with what was sent
    try:
        assert len(ledger.last_created()) == 1_000
    finally:
        ledger.close()
