"""``kanari render alerts|alertmanager|dashboards|all``: generate the monitoring artefacts.

Rendering reads the configuration without secrets (``load_config(..., with_secrets=False)``), so it
runs in CI and on a laptop. Exit codes: 0 written (or, with ``--check``, current), 1 a committed file
differs from a fresh render (the diff is printed), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from probe.cli.common import add_config_argument
from probe.cli.exits import Exit
from probe.config.loader import KanariConfig, load_config
from probe.errors import InvalidConfigError, KanariError
from probe.render.artefacts import Artefact, Kind, drift, render, render_all, write
from probe.render.timing import PRODUCTION

ALL = "all"


def add_commands(commands: Any) -> None:
    """Register ``render``."""
    parser = commands.add_parser("render", help="generate alert rules, Alertmanager config, dashboards")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    helps = {
        Kind.ALERTS: "Prometheus recording and alerting rules (default out: config/prometheus/alerts.yml)",
        Kind.ALERTMANAGER: "Alertmanager routing (default out: config/alertmanager/alertmanager.yml)",
        Kind.DASHBOARDS: "Grafana dashboards (default out: dashboards/)",
    }
    for kind, text in helps.items():
        sub = kinds.add_parser(kind.value, help=text)
        _common(sub, "FILE, or - for standard output" if kind is not Kind.DASHBOARDS else "DIR")
        if kind is not Kind.DASHBOARDS:
            sub.add_argument(
                "--compress",
                type=float,
                metavar="FACTOR",
                help="time-compressed TEST variant: scale the fixed durations (windows, for:, grouping) "
                "by FACTOR, e.g. 0.0167 for an hour to a minute",
            )
        if kind is Kind.ALERTMANAGER:
            sub.add_argument(
                "--webhook-sink",
                metavar="URL",
                help="TEST variant: every receiver becomes one webhook at URL/<receiver name>",
            )
        sub.set_defaults(handler=command_render, render_kind=kind.value)
    everything = kinds.add_parser(ALL, help="every committed file (default: under the current directory)")
    _common(everything, "ROOT directory of the repository layout")
    everything.set_defaults(handler=command_render, render_kind=ALL)


def _common(parser: argparse.ArgumentParser, out: str) -> None:
    add_config_argument(parser)
    parser.add_argument("--out", type=Path, help=f"where to write ({out}); default: the committed path")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff if a file differs from a fresh render",
    )


def _load(directory: Path) -> KanariConfig | None:
    try:
        return load_config(directory, with_secrets=False)
    except InvalidConfigError as error:
        print(f"configuration in {directory} is not valid:", file=sys.stderr)
        for problem in error.errors:
            print(f"  {problem.render()}", file=sys.stderr)
    except KanariError as error:
        print(f"configuration in {directory} is not usable: {error}", file=sys.stderr)
    return None


def command_render(arguments: argparse.Namespace) -> int:
    """``kanari render KIND``."""
    config = _load(arguments.config)
    if config is None:
        return Exit.USAGE
    compress = getattr(arguments, "compress", None)
    if compress is not None and compress <= 0:
        print("kanari render: --compress must be positive", file=sys.stderr)
        return Exit.USAGE
    timing = PRODUCTION.compressed(compress) if compress is not None else PRODUCTION
    sink_base = getattr(arguments, "webhook_sink", None)
    sink = (lambda name: f"{sink_base.rstrip('/')}/{name}") if sink_base else None
    out: Path | None = arguments.out
    if arguments.render_kind == ALL:
        artefacts = render_all(config, out or Path())
    else:
        to_stdout = out == Path("-")
        artefacts = render(Kind(arguments.render_kind), config, None if to_stdout else out, timing, sink)
        if to_stdout:
            if arguments.check:
                print("kanari render: --check needs a file, not standard output", file=sys.stderr)
                return Exit.USAGE
            sys.stdout.write("".join(artefact.text for artefact in artefacts))
            return Exit.OK
    return _check(artefacts) if arguments.check else _write(artefacts)


def _check(artefacts: list[Artefact]) -> int:
    diffs = drift(artefacts)
    for diff in diffs:
        sys.stdout.write(diff)
    if diffs:
        print(
            f"{len(diffs)} file(s) differ from a fresh render; run `kanari render` and commit",
            file=sys.stderr,
        )
        return Exit.FAILED
    print(f"{len(artefacts)} file(s) match a fresh render")
    return Exit.OK


def _write(artefacts: list[Artefact]) -> int:
    write(artefacts)
    for artefact in artefacts:
        print(f"wrote {artefact.path}")
    return Exit.OK
