"""``python -m bench``'s own failure paths: a bad ``--only`` is a usage error naming the value, and
a stop signal (even SIGKILL) leaves none of the processes it started running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import main
from tests.conftest import ROOT
from tests.waiting import wait_for


@pytest.mark.parametrize("only", ["abc", "cpu,x", ",", "CPU"])
def test_unknown_parts_are_a_usage_error_naming_the_value(
    only: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--only", only, "--work", str(tmp_path)])
    assert stopped.value.code == 2
    assert f"--only: parts of cpu, large, scale, production, status, not {only!r}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing started


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_a_stopped_benchmark_leaves_no_child_running(stop: signal.Signals, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--work",
            str(tmp_path),
            "--out",
            str(tmp_path / "r.json"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until the sandbox child is up (its manifest appears), so there is something to stop.
    children = wait_for(lambda: _children(process.pid), 60, "the benchmark's first child process")
    process.send_signal(stop)
    _, err = process.communicate(timeout=60)
    if stop == signal.SIGKILL:  # no chance to clean up: the children get SIGTERM from the kernel
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 128 + stop
        assert f"benchmark stopped ({stop.name})" in err
    wait_for(lambda: not any(_alive(child) for child in children), 10, "every child to end", every=0.1)
