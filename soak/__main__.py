"""``python -m soak``: a simulated year of Kanari (see :mod:`soak`), the learned and the fixed deadlines
in two processes at once; figures in ``soak/results.json``.

``--days 21 --start 2026-03-23`` runs the three weeks around Easter (the short version ``make test``
runs through ``tests/soak``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import logging
import sys
import time
import zoneinfo
from pathlib import Path
from typing import Any

from probe.clock import NORWAY
from soak.cast import MUNICIPALITIES, SHORT
from soak.report import make_plan, report, score_run

HERE = Path(__file__).resolve().parent


def default_work() -> Path:
    """The ledgers' directory: on tmpfs where there is one (the ledger fsyncs every commit, as in
    production; on a disk that alone would take the soak past its budget), else beside the package."""
    shm = Path("/dev/shm")  # noqa: S108 (a directory of our own under it, not a shared temporary file)
    return shm / "kanari-soak" if shm.is_dir() else HERE / ".work"


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--start", default="2026-01-01", help="first day (Europe/Oslo), default 2026-01-01")
    parser.add_argument("--days", type=float, default=365.0, help="simulated days (default a year)")
    parser.add_argument("--per-kind", type=int, default=200, help="faults of each kind (default 200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--short", action="store_true", help="the short cast (5 municipalities, 10 routes)")
    parser.add_argument(
        "--work",
        type=Path,
        default=default_work(),
        help="where the ledgers go (tmpfs where there is one)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--configurations", default="learned,fixed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and write the results."""
    args = arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    began = time.perf_counter()
    zone = zoneinfo.ZoneInfo(NORWAY)
    start = dt.datetime.combine(dt.date.fromisoformat(args.start), dt.time(0, 0), tzinfo=zone).timestamp()
    end = start + args.days * 86_400.0
    municipalities = SHORT if args.short else MUNICIPALITIES
    plan = make_plan(municipalities, (start, end), args.per_kind, args.seed)
    configurations = [name.strip() for name in args.configurations.split(",") if name.strip()]
    scored: dict[str, Any] = {}
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(configurations)) as pool:
        futures = {
            name: pool.submit(
                score_run,
                args.work / name,
                name,
                plan,
                (start, end),
                municipalities=municipalities,
                seed=args.seed,
            )
            for name in configurations
        }
        for name, future in futures.items():
            scored[name] = future.result()
    results = report(scored, plan, (start, end), wall=time.perf_counter() - began)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print(json.dumps({key: results[key] for key in list(results)[:7]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
