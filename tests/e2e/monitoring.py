"""Real Prometheus and Alertmanager (Debian's packages) on loopback, with webhook sinks recording what
each receiver is sent."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def require_servers() -> None:
    """Skip with a clear message where the Debian packages are missing (CI installs them)."""
    if PROMETHEUS is None or ALERTMANAGER is None:
        pytest.skip(
            "prometheus and prometheus-alertmanager are not installed (scripts/ensure-debian-packages.sh)"
        )


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclasses.dataclass
class Notification:
    """One alert as a receiver got it."""

    receiver: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)


class Sinks:
    """An HTTP server taking Alertmanager webhook posts at ``/<receiver>``; the receivers in ``failing``
    answer 400 (a broken webhook: Alertmanager does not retry a 4xx) and record nothing."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        sinks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver = self.path.strip("/")
                if receiver in failing:
                    self.send_response(400)
                    self.end_headers()
                    return
                with sinks._lock:
                    for alert in body["alerts"]:
                        sinks.notifications.append(
                            Notification(
                                receiver, alert["status"], alert["labels"], alert.get("annotations", {})
                            )
                        )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def received(
        self, receiver: str | None = None, *, status: str = "firing", **labels: str
    ) -> list[Notification]:
        """Notifications of ``status`` (``firing`` or ``resolved``), to ``receiver`` if given, whose labels
        include ``labels``."""
        with self._lock:
            return [
                n
                for n in self.notifications
                if n.status == status
                and (receiver is None or n.receiver == receiver)
                and all(n.labels.get(key) == value for key, value in labels.items())
            ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclasses.dataclass
class Stack:
    """Prometheus and Alertmanager scraping and routing for one probe."""

    prometheus_url: str
    alertmanager_url: str
    prometheus: subprocess.Popen[bytes]
    alertmanager: subprocess.Popen[bytes]
    # The (first) probe Prometheus scrapes.
    probe_url: str = ""

    def query(self, expression: str) -> dict[str, Any]:
        """An instant query; raises on an error answer."""
        answer = httpx.get(f"{self.prometheus_url}/api/v1/query", params={"query": expression}, timeout=10)
        body: dict[str, Any] = answer.json()
        if body.get("status") != "success":
            raise AssertionError(f"{expression!r}: {body.get('error')}")
        return body

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        """Alertmanager's view of its alerts: labels, ``status.state`` (``active``, ``suppressed``,
        ``unprocessed``), ``status.inhibitedBy`` and the receivers each routes to."""
        answer = httpx.get(f"{self.alertmanager_url}/api/v2/alerts", timeout=10)
        answer.raise_for_status()
        alerts: list[dict[str, Any]] = answer.json()
        return alerts

    def post_alerts(self, *label_sets: dict[str, str]) -> None:
        """Fire alerts straight into Alertmanager, as another team's Prometheus would (for an hour)."""
        now = time.time()
        alerts = [
            {"labels": labels, "startsAt": _rfc3339(now - 1), "endsAt": _rfc3339(now + 3600)}
            for labels in label_sets
        ]
        httpx.post(f"{self.alertmanager_url}/api/v2/alerts", json=alerts, timeout=10).raise_for_status()

    def firing(self) -> list[dict[str, Any]]:
        """Alerts Prometheus considers firing."""
        alerts = httpx.get(f"{self.prometheus_url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return [alert for alert in alerts if alert["state"] == "firing"]


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def settled(stack: Stack, sinks: Sinks) -> bool:
    """Whether Alertmanager has dealt with every alert Prometheus fires: each one is known to it, and each
    is either inhibited or silenced (``suppressed``) or delivered to every receiver it routes to."""
    known = stack.alertmanager_alerts()
    by_labels = {tuple(sorted(alert["labels"].items())): alert for alert in known}
    for firing in stack.firing():
        if tuple(sorted(firing["labels"].items())) not in by_labels:
            return False
    for alert in known:
        state = alert["status"]["state"]
        if state == "suppressed":
            continue
        if state != "active":
            return False
        for receiver in alert["receivers"]:
            if not sinks.received(receiver["name"], **alert["labels"]):
                return False
    return True


def wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``url`` answers 200 (at most 30 s); the process's log if it ends or never does."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(log.read_text())
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready: {log.read_text()}")


@contextlib.contextmanager
def monitoring_stack(
    directory: Path,
    probe_port: int | tuple[int, ...],
    rules: str,
    alertmanager: str,
    job: str = "kanari",
) -> Iterator[Stack]:
    """Prometheus (scraping the probe, or each replica of ``probe_port``, as job ``job`` and Alertmanager
    as ``alertmanager``, and evaluating ``rules`` (``directory / "rules.yml"``) every second) and
    Alertmanager (with the ``alertmanager`` configuration), until the block ends."""
    require_servers()
    assert PROMETHEUS is not None
    assert ALERTMANAGER is not None
    directory.mkdir(parents=True, exist_ok=True)
    am_port, prom_port = free_port(), free_port()
    (directory / "rules.yml").write_text(rules)
    (directory / "alertmanager.yml").write_text(alertmanager)
    ports = probe_port if isinstance(probe_port, tuple) else (probe_port,)
    prometheus_config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(directory / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}" for port in ports]}]},
            # Its own notification counters, which KanariAlertmanagerFailing reads.
            {"job_name": "alertmanager", "static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]},
        ],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config))
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        am_log = directory / "alertmanager.log"
        with am_log.open("wb") as output:
            alertmanager_process = subprocess.Popen(
                [ALERTMANAGER, f"--config.file={directory / 'alertmanager.yml'}",
                 f"--storage.path={directory / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                 "--cluster.listen-address=", "--log.level=warn"],
                stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        processes.append((alertmanager_process, am_log))
        prom_log = directory / "prometheus.log"
        with prom_log.open("wb") as output:
            prometheus_process = subprocess.Popen(
                [PROMETHEUS, f"--config.file={directory / 'prometheus.yml'}",
                 f"--storage.tsdb.path={directory / 'prom-data'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}",
                 "--rules.alert.resend-delay=1s", "--log.level=warn"],
                stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        processes.append((prometheus_process, prom_log))
        wait_until_answering(f"http://127.0.0.1:{am_port}/-/ready", alertmanager_process, am_log)
        wait_until_answering(f"http://127.0.0.1:{prom_port}/-/ready", prometheus_process, prom_log)
        yield Stack(
            f"http://127.0.0.1:{prom_port}",
            f"http://127.0.0.1:{am_port}",
            prometheus_process,
            alertmanager_process,
            f"http://127.0.0.1:{ports[0]}",
        )
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
