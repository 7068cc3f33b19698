"""``kanari run`` and ``kanari once``: the probe against configured upstreams.

``kanari run`` exits 2 (:attr:`Exit.USAGE`) with one line ``kanari run: <problem>`` on stderr when it
cannot start as configured: the configuration, the ledger (directory not writable, a file that is no
Kanari ledger, a newer or unmigratable schema) or the HTTP address (malformed, in use, not permitted).
All of these surface before the engine starts, so nothing has been sent. A replica on the PostgreSQL
ledger that loses its lease to another exits 1 (:attr:`Exit.FAILED`), fenced: it sent nothing more.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from probe.cli.common import add_config_argument, load_or_explain, run_until_signalled
from probe.cli.exits import Exit
from probe.clock import SystemClock
from probe.config.listen import parse_listen
from probe.config.loader import KanariConfig
from probe.errors import KanariError, ListenError
from probe.hops import Channel, Verdict, hops_until
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.verdict import delivered_at
from probe.runtime import build_runtime
from probe.service import ProbeService


def add_commands(commands: Any) -> None:
    """Register ``run`` and ``once``."""
    run = commands.add_parser("run", help="run the probe on every configured route")
    add_config_argument(run)
    run.add_argument(
        "--listen",
        type=listen_address,
        help="HOST:PORT of the probe's HTTP surface, [::1]:PORT for IPv6, port 0 for a free one "
        "(default: from kanari.yaml)",
    )
    run.set_defaults(handler=command_run)

    once = commands.add_parser(
        "once", help="send one canary now, print each hop as it is reached, exit 0 if delivered"
    )
    add_config_argument(once)
    once.add_argument("--municipality", required=True, help="kommunenummer, e.g. 4601")
    once.add_argument("--channel", required=True, choices=[channel.value for channel in Channel])
    once.set_defaults(handler=command_once)


def listen_address(value: str) -> str:
    """``--listen``, checked while the arguments are parsed: a malformed value is a usage error (exit 2)
    naming it, before anything is loaded or bound."""
    try:
        parse_listen(value)
    except ListenError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def command_run(arguments: argparse.Namespace) -> int:
    """``kanari run``: exit 2 with the problem named when the probe cannot start as configured."""
    config = load_or_explain(arguments.config)
    if config is None:
        return Exit.USAGE
    try:
        return run_until_signalled(lambda stop: serve(config, stop, arguments.listen))
    except KanariError as error:
        print(f"kanari run: {error}", file=sys.stderr)
        return Exit.USAGE


async def serve(config: KanariConfig, stop: asyncio.Event, listen: str | None = None) -> int:
    """Run the probe for ``config`` until ``stop`` is set.

    Opening the ledger (in :func:`build_runtime`) and binding the HTTP socket (in :class:`ProbeService`)
    raise a :class:`KanariError` naming the problem; both happen before the engine starts, so nothing has
    been sent, and what was built is closed again before the error goes on to the caller."""
    runtime = build_runtime(config, SystemClock())
    try:
        service = ProbeService(runtime, listen)
    except BaseException:
        await runtime.close()
        raise
    print(f"kanari: probing {len(config.routes)} routes; metrics at {service.url}/metrics", flush=True)
    await service.run(stop)
    if service.lost_lease:
        # Another replica leads now; what this one holds in memory may be behind the ledger: exit, and
        # let the supervisor start it again as a standby.
        print("kanari run: lost the leader lease to another replica; stopped (start again to stand by)",
              file=sys.stderr, flush=True)  # fmt: skip
        return Exit.FAILED
    return Exit.OK


def command_once(arguments: argparse.Namespace) -> int:
    """``kanari once``."""
    config = load_or_explain(arguments.config)
    if config is None:
        return Exit.USAGE
    channel = Channel(arguments.channel)
    route = next(
        (r for r in config.routes if r.channel is channel and r.kommunenummer == arguments.municipality), None
    )
    if route is None:
        print(
            f"no {channel.value} route for municipality {arguments.municipality} in {arguments.config} "
            "(is its file in municipalities/ and the channel enabled?)",
            file=sys.stderr,
        )
        return Exit.USAGE
    try:
        return asyncio.run(once(config, route.key))
    except KanariError as error:
        print(f"kanari once: {error}", file=sys.stderr)
        return Exit.USAGE


async def once(config: KanariConfig, key: tuple[Channel, str], tick: float = 1.0) -> int:
    """Send one canary on the route ``key`` and follow it to its verdict, printing each hop."""
    with tempfile.TemporaryDirectory(prefix="kanari-once-") as scratch:
        # A private ledger: a smoke test must not add canaries to a running probe's ledger.
        runtime = build_runtime(config, SystemClock(), ledger_path=Path(scratch) / "once.sqlite3")
        engine = runtime.engine
        route = engine.route(key)
        assert route is not None
        try:
            engine.start(schedule=False)
            record = engine.send_now(route)
            print(f"canary {record.id} on {route.name} ({route.municipality_name})")
            print(f"  following it to its final hop, {route.final_hop.value}")
            printed: set[str] = set()
            while record.verdict is None:
                await asyncio.sleep(tick)
                engine.poll_tick()
                _print_new_hops(record, printed)
            await engine.settle()
            engine.poll_tick()
            _print_new_hops(record, printed)
        finally:
            await runtime.close()
    return _report(record)


def _print_new_hops(record: CanaryRecord, printed: set[str]) -> None:
    for hop in hops_until(record.channel, record.final_hop):
        if hop in record.hops and hop.value not in printed:
            printed.add(hop.value)
            print(f"  {hop.value:<11} after {record.hops[hop] - record.created_at:7.1f} s", flush=True)


def _report(record: CanaryRecord) -> int:
    if record.verdict is Verdict.DELIVERED:
        arrived = delivered_at(record)
        latency = (arrived - record.created_at) if arrived is not None else 0.0
        print(f"delivered in {latency:.1f} s")
        return Exit.OK
    blame = ""
    if record.blamed_hop is not None:
        owner = record.blamed_owner.value if record.blamed_owner else "unknown"
        blame = f": hop {record.blamed_hop.value} not reached, owner {owner}"
    reason = f" (send failed: {record.failure_reason})" if record.failure_reason else ""
    verdict = record.verdict.value if record.verdict else "unresolved"
    print(f"{verdict}{blame}{reason}")
    return Exit.FAILED
