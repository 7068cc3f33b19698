"""``kanari readback verify``: arguments it cannot use are refused naming them (exit 2); against read-back
APIs over loopback it prints one line per rule and exits 0 (all passed), 1 (a rule failed) or 3 (rules
skipped), over https with a private CA too."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from probe.checks.conformance import RULES
from probe.cli import main
from probe.cli.exits import Exit
from probe.clock import FakeClock, SystemClock
from probe.sandbox.server import running
from probe.sandbox.settings import SandboxSettings
from tests.checks.vendor_apps import SERVED, TOKEN, FakeVendor, Flaws, served
from tests.sandbox.kit import Kit, municipality_of

PAST_WORST_PORTAL = 300  # fake seconds after which the sandbox has registered a portal canary


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def verify_args(url: str, token_file: Path, *extra: str, municipality: str = SERVED) -> list[str]:
    return [
        "readback",
        "verify",
        "--url",
        url,
        "--token-file",
        str(token_file),
        "--municipality",
        municipality,
        *extra,
    ]


def rule_lines(out: str) -> dict[str, str]:
    """The rule lines of the output by rule id, each starting with PASS, FAIL or SKIP."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        label, _, rest = line.partition(" ")
        if label in ("PASS", "FAIL", "SKIP"):
            found[rest.split()[0]] = label
    return found


# --- arguments it cannot use ---------------------------------------------------------------------------


def test_an_unreadable_token_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-token"
    assert main(verify_args("https://vendor.example/api", missing)) == Exit.USAGE
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "--token-file" in err


def test_an_empty_token_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert main(verify_args("https://vendor.example/api", empty)) == Exit.USAGE
    err = capsys.readouterr().err
    assert str(empty) in err
    assert "empty" in err


def test_plain_http_to_another_host_is_refused_before_sending_the_token(
    token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(verify_args("http://vendor.example/api", token_file)) == Exit.USAGE
    err = capsys.readouterr().err
    assert "--url 'http://vendor.example/api'" in err
    assert "plain http://" in err
    assert TOKEN not in err


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://vendor.example/api/kanari/v1", "without /kanari/v1"),
        ("ftp://vendor.example/api", "must be an http(s) URL"),
        ("https://user:secret@vendor.example/api", "must not carry credentials"),
    ],
)
def test_a_url_kanari_would_not_use_is_refused(
    url: str, expected: str, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(verify_args(url, token_file)) == Exit.USAGE
    err = capsys.readouterr().err
    assert expected in err
    assert "secret" not in err


@pytest.mark.parametrize(
    ("municipality", "expected"), [("46O1", "4-digit kommunenummer"), ("0000", "no municipality has")]
)
def test_an_unknown_municipality_is_refused(
    municipality: str, expected: str, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = verify_args("https://vendor.example/api", token_file, municipality=municipality)
    assert main(args) == Exit.USAGE
    err = capsys.readouterr().err
    assert expected in err
    assert municipality in err


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_an_unusable_ca_file_is_named(
    content: str | None, tmp_path: Path, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_text(content)
    args = verify_args("https://vendor.example/api", token_file, "--ca-file", str(ca_file))
    assert main(args) == Exit.USAGE
    err = capsys.readouterr().err
    assert f"--ca-file {ca_file}" in err


def test_the_municipality_is_required(token_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["readback", "verify", "--url", "https://vendor.example/api", "--token-file", str(token_file)])
    assert stopped.value.code == Exit.USAGE
    assert "--municipality" in capsys.readouterr().err


# --- against read-back APIs over loopback --------------------------------------------------------------


@pytest.fixture
def flaws() -> Flaws:
    return Flaws()


@pytest.fixture
async def fake_url(flaws: Flaws) -> AsyncIterator[tuple[FakeVendor, str]]:
    vendor = FakeVendor(SystemClock(), flaws)
    async with served(vendor) as url:
        yield vendor, url


async def run(args: list[str]) -> int:
    """The command in a thread of its own: it runs its own event loop, and the servers it calls run in
    this one."""
    return await asyncio.to_thread(main, args)


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_conformant_api_passes_every_rule(
    fake_url: tuple[FakeVendor, str], token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor, url = fake_url
    canary = str(uuid.uuid4())
    vendor.register(canary, time.time() - 300)
    assert await run(verify_args(url, token_file, "--canary-id", canary)) == Exit.OK
    out = capsys.readouterr().out
    assert rule_lines(out) == {rule.id: "PASS" for rule in RULES}
    assert out.splitlines()[-1].startswith("conformant: 14 passed, 0 failed, 0 skipped")
    assert TOKEN not in out


@pytest.mark.slow
@pytest.mark.anyio
async def test_without_a_canary_the_skipped_rules_are_said_and_exit_3(
    fake_url: tuple[FakeVendor, str], token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = fake_url
    assert await run(verify_args(url, token_file)) == Exit.INCOMPLETE
    out = capsys.readouterr().out
    lines = rule_lines(out)
    assert {rule for rule, label in lines.items() if label == "SKIP"} == {
        "canary.get",
        "since.excludes-earlier",
        "since.includes-at-and-after",
        "delete.listed",
    }
    assert "FAIL" not in lines.values()
    assert "skipped: no canary registered" in out
    assert out.splitlines()[-1].startswith("not proven yet:")


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("flaws", "broken"),
    [
        (Flaws(no_auth=True), {"auth.no-token", "auth.wrong-token"}),
        (Flaws(extra_property=True), {"list.shape"}),
        (Flaws(ignores_since=True), {"since.excludes-earlier"}),
    ],
    ids=["no-auth", "wrong-shape", "ignores-since"],
)
async def test_a_broken_api_is_named_by_the_rules_it_breaks(
    fake_url: tuple[FakeVendor, str],
    broken: set[str],
    token_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vendor, url = fake_url
    canary = str(uuid.uuid4())
    vendor.register(str(uuid.uuid4()), time.time() - 900)
    vendor.register(canary, time.time() - 300)
    assert await run(verify_args(url, token_file, "--canary-id", canary)) == Exit.FAILED
    out = capsys.readouterr().out
    assert {rule for rule, label in rule_lines(out).items() if label == "FAIL"} == broken
    assert out.splitlines()[-1].startswith(f"not conformant: {14 - len(broken)} passed, {len(broken)} failed")


# --- the real sandbox, over https with its private CA ---------------------------------------------------


@pytest.fixture
async def tls_kit(tmp_path: Path) -> AsyncIterator[Kit]:
    # The sandbox's clock is fake but set so that, once the canary is registered, it reads about the
    # real time: the command compares serverTime with this machine's clock.
    clock = FakeClock(time.time() - PAST_WORST_PORTAL)
    settings = SandboxSettings(listen="127.0.0.1:0", state_dir=tmp_path / "sandbox", tls=True)
    async with running(settings, clock) as sandbox:
        tls = sandbox.world.credentials.tls
        assert tls is not None
        trusting = ssl.create_default_context(cafile=str(tls.ca_file))
        async with httpx.AsyncClient(timeout=30, verify=trusting) as http:
            yield Kit(sandbox, http, clock)


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_sandbox_passes_over_https_with_its_ca_and_fails_without_it(
    tls_kit: Kit, capsys: pytest.CaptureFixture[str]
) -> None:
    kit = tls_kit
    kommunenummer = municipality_of(kit, "vidde")
    sent = await kit.send_report(kommunenummer)
    kit.advance(PAST_WORST_PORTAL)
    assert await kit.registered(kommunenummer) == [sent.canary_id]
    info = next(vendor for vendor in kit.manifest.vendors if vendor.id == "vidde")
    assert info.readback is not None
    assert info.readback.auth.token_file is not None
    assert info.readback.base_url.startswith("https://")
    tls = kit.world.credentials.tls
    assert tls is not None
    args = verify_args(info.readback.base_url, info.readback.auth.token_file, municipality=kommunenummer)

    assert await run(args) == Exit.FAILED  # the private CA is not trusted by default
    out = capsys.readouterr().out
    assert set(rule_lines(out).values()) <= {"FAIL", "SKIP"}
    assert "tls" in out

    assert await run([*args, "--ca-file", str(tls.ca_file), "--canary-id", sent.canary_id]) == Exit.OK
    out = capsys.readouterr().out
    assert rule_lines(out) == {rule.id: "PASS" for rule in RULES}
    assert await kit.registered(kommunenummer) == []  # deleted at the end, as Kanari does
