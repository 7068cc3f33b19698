"""``kanari render``: writing, --check with a diff, standard output, the test variants."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from probe.cli import main
from probe.config.loader import KanariConfig
from probe.render.alerts import render_rules
from tests.render.conftest import CONFIG_DIR


def test_render_alerts_to_a_file_and_check(
    config: KanariConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "alerts.yml"
    assert main(["render", "alerts", "--config", str(CONFIG_DIR), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render_rules(config)
    assert main(["render", "alerts", "--config", str(CONFIG_DIR), "--out", str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("for: 4m", "for: 1m", 1), encoding="utf-8")
    capsys.readouterr()
    assert main(["render", "alerts", "--config", str(CONFIG_DIR), "--out", str(out), "--check"]) == 1
    diff = capsys.readouterr().out
    assert "-        for: 1m" in diff
    assert "+        for: 4m" in diff


def test_render_all_writes_the_repository_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "all", "--config", str(CONFIG_DIR), "--out", str(tmp_path)]) == 0
    written = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    assert written == [
        "config/alertmanager/alertmanager.yml",
        "config/prometheus/alerts.yml",
        "dashboards/kanari-municipality.json",
        "dashboards/kanari-overview.json",
        "dashboards/kanari-probe.json",
        "dashboards/kanari-vendor.json",
    ]
    assert main(["render", "all", "--config", str(CONFIG_DIR), "--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "dashboards/kanari-probe.json").unlink()
    assert main(["render", "all", "--config", str(CONFIG_DIR), "--out", str(tmp_path), "--check"]) == 1


def test_test_variant_of_alertmanager_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "render",
            "alertmanager",
            "--config",
            str(CONFIG_DIR),
            "--compress",
            "0.01",
            "--webhook-sink",
            "http://127.0.0.1:9000/sink/",
            "--out",
            "-",
        ]
    )
    assert code == 0
    document = yaml.safe_load(capsys.readouterr().out)
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in document["receivers"]}
    page = "kanari-vendor-example-vendor-page"
    assert urls[page] == f"http://127.0.0.1:9000/sink/{page}"
    assert document["route"]["routes"][0]["repeat_interval"] == "2m24s"


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "alerts", "--config", str(CONFIG_DIR), "--compress", "0", "--out", "-"]) == 2
    assert main(["render", "alerts", "--config", str(tmp_path)]) == 2
    assert "not valid" in capsys.readouterr().err
