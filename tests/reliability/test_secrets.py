"""No secret in logs (at any level, httpx's debug logging included, text and ``--log-format json``),
metrics, exceptions, ``kanari config check`` or ``kanari status`` output (table and ``--json``): every
captured byte of a full run is searched for each secret."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.e2e.processes import environment, fast_timing, kanari, sandbox_process, write_probe_config
from tests.e2e.test_crash import metrics_url
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

FAST = fast_timing("3s", "5s", "10s", "3s")
METRICS_PASSWORD = "kanari-metrics-s3cret-Xq9"


# What the three faults below make the probe record, by (target, reason): the read-back refusing (503),
# rate limits and broken answers (on whichever call of the municipality comes first).
FAILURES = {("readback", "http_5xx"), ("*", "rate_limited"), ("*", "invalid_response")}


def _samples(url: str, name: str) -> list[dict[str, str]]:
    response = httpx.get(url, auth=("prometheus", METRICS_PASSWORD))
    if response.status_code == 503:
        return []  # still resuming from the ledger: /metrics answers once the engine has started
    response.raise_for_status()
    text = response.text
    return [
        {**sample.labels, "value": str(sample.value)}
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.value > 0
    ]


def delivered_somewhere(url: str) -> bool:
    """Whether any canary has been delivered (the full path ran once, with every credential)."""
    return any(s["verdict"] == "delivered" for s in _samples(url, "kanari_canaries_resolved_total"))


def failure_reasons(url: str) -> set[tuple[str, str]]:
    """The (target, reason) pairs of the failed checks so far, ("send", reason) of failed sends, and
    ("*", reason) of either."""
    checks = {(s["target"], s["reason"]) for s in _samples(url, "kanari_check_failures_total")}
    sends = {("send", s["reason"]) for s in _samples(url, "kanari_send_failures_total")}
    return checks | sends | {("*", reason) for _, reason in checks | sends}


def secret_values(state_dir: Path, config_dir: Path) -> list[str]:
    values = [METRICS_PASSWORD]
    for name in ("fiks-integrasjon-passord", "readback-fjordsys.token", "readback-vidde.token"):
        values.append((state_dir / name).read_text().strip())
    for pem in (state_dir / "maskinporten-client.key.pem", config_dir / "marker-ed25519.pem"):
        # Every line of key material, so a key printed even in part is found.
        values += [line for line in pem.read_text().splitlines() if line and not line.startswith("-----")]
    return values


def test_a_full_run_never_shows_a_secret(tmp_path: Path) -> None:
    captured: list[str] = []
    with sandbox_process(tmp_path / "sandbox") as manifest:
        (tmp_path / "metrics-password").write_text(METRICS_PASSWORD + "\n")
        (tmp_path / "metrics-password").chmod(0o600)
        password = {"file": str(tmp_path / "metrics-password")}
        settings = {**FAST, "metrics": {"basic_auth_username": "prometheus", "basic_auth_password": password}}
        config = write_probe_config(
            tmp_path / "config", manifest, ["4601", "0301", "5001"], settings=settings
        )
        secrets = secret_values(tmp_path / "sandbox", config)

        log = tmp_path / "run.log"
        with log.open("wb") as output:
            run = subprocess.Popen(
                [sys.executable, "-m", "probe", "--log-level", "DEBUG", "run", "--config", str(config)],
                cwd=ROOT, env=environment(), stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            url = metrics_url(log, runs_before=0)
            wait_for(lambda: delivered_somewhere(url), 60, "a first delivered canary", explain=log.read_text)
            # Failure paths too: read-back refusing, rate limits, broken answers.
            for fault, municipality in (
                ("vendor.readback_down", "4601"),
                ("ratelimit", "0301"),
                ("malformed", "5001"),
            ):
                httpx.post(manifest.admin_url, json={"fault": fault, "municipality": municipality})
            wait_for(
                lambda: failure_reasons(url) >= FAILURES,
                60,
                f"failures with reasons {sorted(FAILURES)}",
                explain=lambda: f"seen {sorted(failure_reasons(url))}",
            )
            assert httpx.get(url).status_code == 401  # /metrics is protected
            scrape = httpx.get(url, auth=("prometheus", METRICS_PASSWORD))
            assert scrape.status_code == 200
            captured.append(scrape.text)
            captured.append(httpx.get(url.replace("/metrics", "/.well-known/kanari/keys.json")).text)
            # The status page, every view (restricted ones behind the same credentials): no secret, and
            # no canary content (the marker) either.
            base = url.removesuffix("/metrics")
            assert httpx.get(f"{base}/status/municipality/4601").status_code == 401
            for path in ("/status", "/status?lang=en", "/status/vendor/nordlys", "/status/municipality/4601",
                         "/status/municipality/0301?lang=en", "/status/municipality/5001"):  # fmt: skip
                page = httpx.get(base + path, auth=("prometheus", METRICS_PASSWORD))
                assert page.status_code == 200, path
                assert "KANARI1." not in page.text, path
                captured.append(page.text)
        finally:
            run.send_signal(signal.SIGTERM)
            run.wait(timeout=30)
        captured.append(log.read_text())
        httpx.delete(manifest.admin_url)

        for result in (
            kanari(
                "--log-level",
                "DEBUG",
                "once",
                "--config",
                str(config),
                "--municipality",
                "4601",
                "--channel",
                "portal",
            ),
            kanari("config", "check", "--config", str(config)),
            kanari("status", "--config", str(config)),
            kanari("status", "--json", "--all", "--config", str(config)),
        ):
            captured += [result.stdout, result.stderr]
        # JSON lines carry every structured field of a record besides its message: searched too, and
        # each line must parse (a shipper reads stderr line by line).
        json_once = kanari(
            "--log-format", "json", "--log-level", "DEBUG", "once", "--config", str(config),
            "--municipality", "0301", "--channel", "portal",
        )  # fmt: skip
        captured += [json_once.stdout, json_once.stderr]
        json_lines = [json.loads(line) for line in json_once.stderr.splitlines()]
        assert any(line["logger"].startswith("httpx") for line in json_lines), json_once.stderr

        # A secret typed straight into the file is refused without being echoed.
        document = yaml.safe_load((config / "kanari.yaml").read_text())
        document["channels"]["portal"]["integrasjon_passord"] = "hunter2-plain-XY"
        (config / "kanari.yaml").write_text(yaml.safe_dump(document))
        refused = kanari("config", "check", "--config", str(config))
        assert refused.returncode == 1
        assert "integrasjon_passord" in refused.stdout
        captured += [refused.stdout, refused.stderr]
        secrets.append("hunter2-plain-XY")

    everything = "\n".join(captured)
    assert "delivered in" in everything  # the run really ran
    for secret in secrets:
        assert secret not in everything, "a secret value appears in the captured output"
    # Access tokens and grant assertions are JWTs: none may appear.
    assert "eyJ" not in everything


def test_keys_readable_by_others_are_refused(tmp_path: Path) -> None:
    with sandbox_process(tmp_path / "sandbox") as manifest:
        config = write_probe_config(tmp_path / "config", manifest, ["4601"], settings=FAST)
        key = config / "marker-ed25519.pem"
        key.chmod(0o644)
        result = kanari("run", "--config", str(config), timeout=30)
        assert result.returncode == 2
        assert "marker-ed25519.pem" in result.stderr
        assert "readable by others (mode 0o644)" in result.stderr
        assert "chmod 600" in result.stderr
        for line in key.read_text().splitlines():
            if not line.startswith("-----"):
                assert line not in result.stderr
