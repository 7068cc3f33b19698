"""Process figures read from ``/proc`` and ``resource``: CPU seconds and resident memory.

The benchmark runs the sandbox, Kanari and the bare httpx baseline as separate processes, so each one's
CPU is its own. A process measures itself with :func:`cpu_seconds` (``time.process_time``: user + system
of every thread); the orchestrator reads a child's from ``/proc/<pid>/stat`` (:func:`pid_cpu_seconds`) to
tell whether the sandbox kept up.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    return time.process_time()


def pid_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far, or ``None`` if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after its closing parenthesis are fixed.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size now of ``pid`` (default: this process)."""
    statm = Path(f"/proc/{pid or 'self'}/statm").read_text().split()
    return int(statm[1]) * _PAGE


def pin_to(cpu: int | None) -> None:
    """Run this process on one CPU only (``None``: leave it), so "one core" means one core."""
    if cpu is not None and hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank; 0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
