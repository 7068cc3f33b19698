"""``python -m bench`` (``make bench``): what a canary costs against the least anyone could spend, how
the probe behaves at production timing, and how it scales. Five parts, each in its own processes:

- **cpu** (real HTTP over loopback, real time): the benchmark sandbox (:mod:`bench.sandbox`) pinned to
  one CPU; on the other, one after the other so they never compete, the honest floor (h11, the
  protocol's minimum, no ledger), the durable floor (the same plus one SQLite WAL commit per tick), the
  same-transport floor (Kanari's own httpx client and batching) (:mod:`bench.floor`) and Kanari itself
  (:mod:`bench.kanari`), on the same 714 routes at the same schedule. CPU per canary, as ratios to the
  floors measured in the same run, with a breakdown.
- **large** (real HTTP, real time): Kanari at 20 000 routes every 5 minutes, scraped every 15 s as
  Prometheus does: ``/metrics`` latency over HTTP and the send lag to the request leaving.
- **scale** (:mod:`bench.scale`, in process, fake clock where time matters): tick cost with 1 000 to
  150 000 open canaries, read-back matching, restart with a month of ledger, prune's longest block.
- **production** (:mod:`bench.production`, in process, fake clock, the real sandbox at speed 1): a
  simulated week at the example configuration's timing with a 24 h vendor outage and a vendor whose
  DELETE always fails: status reads per canary, load on the national services, memory over the week.
- **status** (:mod:`bench.status_page`, in process, fake clock): the status page at 714 routes on a
  30-day ledger at production timing, each page against its ledger reads alone, and the event loop's lag
  while pages render against the same loop idle.

One table is printed and the figures go to ``bench/results.json`` (:mod:`bench.report` names them).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.procstat import pid_cpu_seconds
from bench.registry import write_registry
from bench.report import render_table, summarise

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results.json"
# The sandbox gets the second CPU, the measured process the first; on a one-CPU machine they share.
SANDBOX_CPU, MEASURED_CPU = (1, 0) if (os.cpu_count() or 1) > 1 else (0, 0)
SANDBOX_START_TIMEOUT = 120.0
# The scale and production parts bound their own run time; these only catch a hung child.
SCALE_TIMEOUT = 900.0
PRODUCTION_TIMEOUT = 900.0
STATUS_TIMEOUT = 900.0


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run measures and for how long (seconds of real time)."""

    cpu_routes: int
    cpu_interval: float
    cpu_warmup: float
    cpu_window: float
    large_routes: int
    large_interval: float
    large_warmup: float
    large_window: float
    status_days: float
    status_repeat: int
    status_lag_seconds: float
    smoke: bool


# The CPU comparison: 714 routes (the production route set) every 12 s, 60 canaries/s (about the rate of
# 20 000 routes every 5 minutes); warm-up one interval (every directory cache and connection warm),
# window two intervals. The large run: 20 000 routes every 5 minutes (66.7 canaries/s, the target), long
# enough for six scrapes 15 s apart.
# The status page: a month of history (the retention), 20 renders per page, 10 s of loop lag each way.
FULL = Plan(714, 12.0, 12.0, 24.0, 20_000, 300.0, 30.0, 90.0, 30.0, 20, 10.0, smoke=False)
# A few seconds of each, every figure present: the honesty checks of ``make test``, never its timings.
SMOKE = Plan(714, 12.0, 2.0, 4.0, 714, 12.0, 2.0, 16.0, 0.1, 3, 1.0, smoke=True)
PARTS = ("cpu", "large", "scale", "production", "status")


class BenchError(Exception):
    """A child process of the benchmark failed; the message names it and ends with its stderr."""


class Stopped(BaseException):
    """The benchmark was told to stop (SIGTERM, SIGHUP); raised so every child is stopped on the way."""


def _on_stop_signal(signum: int, _frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In a child before exec: get SIGTERM when the orchestrator dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the orchestrator died before the line above
        os._exit(1)


def _spawn(command: list[str], output: Any) -> subprocess.Popen[bytes]:
    parent = os.getpid()
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: _die_with_parent(parent),  # noqa: PLW1509 - the orchestrator has one thread
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def sandbox(registry: Path, state_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The benchmark sandbox on ``registry``, running until the block ends (stopped even on error)."""
    manifest = state_dir / "sandbox.json"
    manifest.unlink(missing_ok=True)
    log = state_dir.parent / "sandbox.log"
    state_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "bench.sandbox",
        "--registry",
        str(registry),
        "--state-dir",
        str(state_dir),
        "--cpu",
        str(SANDBOX_CPU),
    ]
    with log.open("wb") as output:
        process = _spawn(command, output)
    try:
        give_up = time.monotonic() + SANDBOX_START_TIMEOUT
        while not manifest.exists():
            if process.poll() is not None or time.monotonic() > give_up:
                raise BenchError(f"the benchmark sandbox did not start (see {log}):\n{_tail(log)}")
            time.sleep(0.1)
        yield process
    finally:
        _stop(process)


def run_child(module: str, arguments: list[str], out: Path, timeout: float) -> dict[str, Any]:
    """Run ``python -m module`` with ``arguments --out out`` and return the JSON it wrote."""
    log = out.with_suffix(".log")
    command = [sys.executable, "-m", module, *arguments, "--out", str(out)]
    with log.open("wb") as output:
        process = _spawn(command, output)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            raise BenchError(f"{module} did not finish in {timeout:g} s (see {log}):\n{_tail(log)}") from None
        except BaseException:
            _stop(process)
            raise
    if code != 0:
        raise BenchError(f"{module} failed with exit {code} (see {log}):\n{_tail(log)}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def _common(state_dir: Path, registry: Path, work: Path, routes: int, interval: float) -> list[str]:
    return ["--state-dir", str(state_dir), "--registry", str(registry), "--work", str(work),
            "--routes", str(routes), "--interval", f"{interval:g}", "--cpu", str(MEASURED_CPU)]  # fmt: skip


def _window(warmup: float, window: float) -> list[str]:
    return ["--warmup", f"{warmup:g}", "--window", f"{window:g}"]


def _timeout(warmup: float, window: float) -> float:
    # Start-up, warm-up, window, drain, with room for a slow machine.
    return 300.0 + warmup + window


def measure_cpu(plan: Plan, work: Path) -> dict[str, Any]:
    """Kanari and the three floors, one after the other, on the same routes against one sandbox."""
    directory = work / "cpu"
    directory.mkdir(parents=True, exist_ok=True)
    registry = directory / "registry.csv"
    write_registry(registry, max(1, plan.cpu_routes // 2))
    state_dir = directory / "sandbox"
    common = _common(state_dir, registry, directory, plan.cpu_routes, plan.cpu_interval)
    timing = _window(plan.cpu_warmup, plan.cpu_window)
    timeout = _timeout(plan.cpu_warmup, plan.cpu_window)
    results: dict[str, Any] = {}
    with sandbox(registry, state_dir) as process:
        for name, module, extra in (
            ("floor", "bench.floor", ["--wire", "h11"]),
            ("durable_floor", "bench.floor", ["--wire", "h11", "--durable"]),
            ("same_transport", "bench.floor", ["--wire", "httpx"]),
            ("kanari", "bench.kanari", ["--memory"]),
        ):
            print(f"  cpu, N={plan.cpu_routes}: {name} ...", flush=True)
            sandbox_cpu, began = pid_cpu_seconds(process.pid) or 0.0, time.perf_counter()
            results[name] = run_child(module, [*common, *timing, *extra], directory / f"{name}.json", timeout)
            results[name]["sandbox_cpu_share"] = ((pid_cpu_seconds(process.pid) or 0.0) - sandbox_cpu) / (
                time.perf_counter() - began
            )
    return results


def measure_large(plan: Plan, work: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Kanari at 20 000 routes (scraped every 15 s), then the scale figures against the same sandbox."""
    directory = work / "large"
    directory.mkdir(parents=True, exist_ok=True)
    registry = directory / "registry.csv"
    write_registry(registry, max(1, plan.large_routes // 2))
    state_dir = directory / "sandbox"
    common = _common(state_dir, registry, directory, plan.large_routes, plan.large_interval)
    timing = _window(plan.large_warmup, plan.large_window)
    smoke = ["--smoke"] if plan.smoke else []
    with sandbox(registry, state_dir):
        print(f"  large, N={plan.large_routes}: kanari ...", flush=True)
        timeout = _timeout(plan.large_warmup, plan.large_window)
        kanari = run_child("bench.kanari", [*common, *timing], directory / "kanari.json", timeout)
        print("  scale: ticks, read-back matching, restart, prune ...", flush=True)
        scale = run_child(
            "bench.scale",
            ["--state-dir", str(state_dir), "--registry", str(registry), "--work", str(directory / "scale"),
             "--cpu", str(MEASURED_CPU), *smoke],
            directory / "scale.json",
            SCALE_TIMEOUT,
        )  # fmt: skip
    return kanari, scale


def measure_production(plan: Plan, work: Path) -> dict[str, Any]:
    """The simulated week at production timing (fake clock, in process)."""
    directory = work / "production"
    directory.mkdir(parents=True, exist_ok=True)
    print("  production timing: a simulated week ...", flush=True)
    smoke = ["--smoke"] if plan.smoke else []
    return run_child(
        "bench.production",
        ["--work", str(directory), "--cpu", str(MEASURED_CPU), *smoke],
        directory / "production.json",
        PRODUCTION_TIMEOUT,
    )


def measure_status(plan: Plan, work: Path) -> dict[str, Any]:
    """The status page's render cost and the loop's lag while it renders (fake clock, in process)."""
    directory = work / "status"
    directory.mkdir(parents=True, exist_ok=True)
    print(f"  status page: {plan.status_days:g} days of history at 714 routes ...", flush=True)
    return run_child(
        "bench.status_page",
        ["--days", f"{plan.status_days:g}", "--repeat", str(plan.status_repeat),
         "--lag-seconds", f"{plan.status_lag_seconds:g}"],
        directory / "status.json",
        STATUS_TIMEOUT,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; exit 0 when every run completed, 1 when a child failed."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="every part for a few seconds (make test)")
    parser.add_argument("--only", help=f"comma-separated parts to run, of {', '.join(PARTS)} (default all)")
    parser.add_argument("--work", type=Path, default=WORK, help=f"state and logs (default {WORK})")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON summary (default {RESULTS})")
    arguments = parser.parse_args(argv)
    plan = SMOKE if arguments.smoke else FULL
    parts = PARTS
    if arguments.only is not None:
        parts = tuple(part.strip() for part in arguments.only.split(",") if part.strip())
        unknown = [part for part in parts if part not in PARTS]
        if unknown or not parts:
            parser.error(f"--only: parts of {', '.join(PARTS)}, not {arguments.only!r}")
    began = time.perf_counter()
    work: Path = arguments.work
    work.mkdir(parents=True, exist_ok=True)
    print(f"kanari benchmark ({'smoke' if plan.smoke else 'full'}): {', '.join(parts)}; state in {work}")
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the blocks that stop the children run.
    signal.signal(signal.SIGTERM, _on_stop_signal)
    signal.signal(signal.SIGHUP, _on_stop_signal)
    raw: dict[str, Any] = {}
    try:
        if "cpu" in parts:
            raw["cpu"] = measure_cpu(plan, work)
        if "large" in parts or "scale" in parts:
            raw["large"], raw["scale"] = measure_large(plan, work)
        if "production" in parts:
            raw["production"] = measure_production(plan, work)
        if "status" in parts:
            raw["status"] = measure_status(plan, work)
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Stopped) as error:
        name = str(error) or "SIGINT"
        print(f"benchmark stopped ({name}); every child process stopped", file=sys.stderr)
        return 128 + signal.Signals[name].value
    elapsed = time.perf_counter() - began
    figures = summarise(raw)
    print()
    print(render_table(figures, raw))
    print(f"\n{elapsed:.0f} s in all; figures in {arguments.out}")
    summary = {
        **figures,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "plan": dataclasses.asdict(plan),
        "elapsed_seconds": elapsed,
        "raw": raw,
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
