"""``kanari once``, the onboarding smoke test, against a sandbox process over loopback."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import fast_timing, kanari, sandbox_process, write_probe_config

pytestmark = pytest.mark.slow

# At sandbox speed 600 the slowest healthy portal delivery takes a quarter of a second; a 5 s deadline
# keeps the failing case short.
FAST = fast_timing("60s", "5s", "15s", "5s")


def test_once_prints_the_hops_and_exits_0_then_1_with_the_blame_under_a_fault(tmp_path: Path) -> None:
    with sandbox_process(tmp_path / "sandbox") as manifest:
        config = write_probe_config(tmp_path / "config", manifest, ["4601"], settings=FAST)
        healthy = kanari("once", "--config", str(config), "--municipality", "4601", "--channel", "portal")
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        for hop in ("accepted", "forwarded", "receipted", "registered"):
            assert f"  {hop} " in healthy.stdout
        assert "delivered in" in healthy.stdout

        altinn = kanari("once", "--config", str(config), "--municipality", "4601", "--channel", "altinn")
        assert altinn.returncode == 0, altinn.stdout + altinn.stderr
        assert "fetched" in altinn.stdout

        httpx.post(manifest.admin_url, json={"fault": "vendor.receipt_without_store", "municipality": "4601"})
        broken = kanari("once", "--config", str(config), "--municipality", "4601", "--channel", "portal")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "lost: hop registered not reached, owner vendor" in broken.stdout


def test_once_usage_and_configuration_errors_exit_2(tmp_path: Path) -> None:
    with sandbox_process(tmp_path / "sandbox") as manifest:
        config = write_probe_config(tmp_path / "config", manifest, ["4601"], settings=FAST)
        missing = kanari("once", "--config", str(config), "--municipality", "0301", "--channel", "portal")
        assert missing.returncode == 2
        assert "no portal route for municipality 0301" in missing.stderr
    bad_channel = kanari("once", "--config", str(config), "--municipality", "4601", "--channel", "fax")
    assert bad_channel.returncode == 2
    (config / "kanari.yaml").write_text("instance: [unclosed\n")
    broken = kanari("once", "--config", str(config), "--municipality", "4601", "--channel", "portal")
    assert broken.returncode == 2
    assert "kanari.yaml:2: (yaml): malformed YAML" in broken.stderr
    assert "while parsing a flow sequence at line 1" in broken.stderr
