"""``kanari status`` only reads: a wrong ledger path is an error naming it (exit 2) and creates nothing, a
read-only ledger is read, and a ledger it cannot use is named, never changed. It needs no secret; it shows
the probed routes (all with ``--all``), filtered; ``--problems`` exits 1 on a lost or failed route."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from probe.cli import main
from probe.cli.status import render_status, route_statuses
from probe.config.loader import load_config
from probe.hops import Channel, Hop, Owner, Verdict, hops_of
from probe.ledger.rows import SCHEMA_VERSION
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from tests.config.conftest import ConfigDir
from tests.ledger.files import RANDOM_BYTES, crashed_with_wal, schema_1, snapshot, unwritable


def ledger_path(configured: ConfigDir) -> Path:
    return configured.path / "var" / "kanari.sqlite3"


def with_a_delivered_canary(path: Path) -> Path:
    ledger = Ledger(path)
    try:
        record = CanaryRecord(
            id="d1",
            channel=Channel.PORTAL,
            municipality="4601",
            vendor="fjordsys",
            bydel=None,
            final_hop=Hop.REGISTERED,
            created_at=1_700_000_000.0,
            deadline_at=1_700_000_900.0,
            marker="KANARI1.a.b",
            state=State.CLOSED,
            verdict=Verdict.DELIVERED,
        )
        ledger.save([record])
    finally:
        ledger.close()
    return path


def refused(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> str:
    """``kanari status``; asserts exit 2, one line on stderr, no traceback, nothing on stdout."""
    assert main(["status", "--config", str(configured.path)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_a_wrong_ledger_path_exits_2_and_creates_nothing(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    configured.edit("kanari.yaml", "ledger: var/kanari.sqlite3", "ledger: vra/kanari.sqlite3")
    path = configured.path / "vra" / "kanari.sqlite3"
    assert refused(configured, capsys) == (
        f"kanari status: cannot read ledger {path}: there is no such file; check `ledger` in kanari.yaml "
        "and --config (kanari run creates the ledger; status never does)"
    )
    assert not path.parent.exists()


def test_a_read_only_ledger_in_a_read_only_directory_is_shown(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = with_a_delivered_canary(ledger_path(configured))
    before = snapshot(path)
    with unwritable(path), unwritable(path.parent):
        assert main(["status", "--config", str(configured.path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    rows = {line.split()[0]: line.split() for line in captured.out.splitlines()[1:]}
    assert rows["portal/4601"][4:6] == ["delivered", "-"]
    assert set(rows) == {"portal/4601"}  # the routes never probed only with --all
    assert snapshot(path) == before


def test_a_newer_ledger_exits_2_untouched(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> None:
    path = crashed_with_wal(ledger_path(configured), "99")
    before = snapshot(path)
    assert refused(configured, capsys) == (
        f"kanari status: cannot read ledger {path}: it was written by a newer Kanari (schema 99, this one "
        f"knows {SCHEMA_VERSION}); refusing to touch it; run the Kanari release that wrote it, or point "
        "`ledger` in kanari.yaml at another file"
    )
    assert snapshot(path) == before


def test_an_older_ledger_exits_2_asking_for_a_migration(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = schema_1(ledger_path(configured))
    before = snapshot(path)
    assert refused(configured, capsys) == (
        f"kanari status: cannot read ledger {path}: it has schema 1 and this Kanari reads schema "
        f"{SCHEMA_VERSION}; start `kanari run` once: it migrates the ledger in one transaction"
    )
    assert snapshot(path) == before


def test_a_corrupt_ledger_exits_2_untouched(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = ledger_path(configured)
    path.parent.mkdir()
    path.write_bytes(RANDOM_BYTES)
    before = snapshot(path)
    assert refused(configured, capsys) == (
        f"kanari status: cannot read ledger {path}: it is not a Kanari ledger (file is not a database); "
        "point `ledger` in kanari.yaml at the right file, or move this one away to start a new ledger"
    )
    assert snapshot(path) == before


def test_a_wal_that_cannot_be_read_is_warned_about(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = with_a_delivered_canary(ledger_path(configured))
    # The image a probe leaves when it dies: the verdict "lost" is committed to the -wal only.
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE canaries SET verdict = 'lost'")
        image = {suffix: Path(f"{path}{suffix}").read_bytes() for suffix in ("", "-wal")}
    finally:
        writer.close()
    for suffix, content in image.items():
        Path(f"{path}{suffix}").write_bytes(content)
    Path(f"{path}-shm").unlink(missing_ok=True)  # and none can be made in the read-only directory
    before = snapshot(path)
    with unwritable(path.parent):
        assert main(["status", "--config", str(configured.path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"warning: {path}-wal could not be read (no usable -shm in a read-only directory): the newest "
        "verdicts may be missing\n"
    )
    rows = {line.split()[0]: line.split() for line in captured.out.splitlines()[1:]}
    assert rows["portal/4601"][4] == "delivered"  # the main file's verdict, not yet the -wal's
    assert snapshot(path) == before


def canary(
    canary_id: str,
    channel: Channel,
    municipality: str,
    vendor: str,
    verdict: Verdict | None,
    *,
    created_at: float = 1_700_000_000.0,
    blamed: tuple[Hop, Owner] | None = None,
) -> CanaryRecord:
    final = Hop.REGISTERED if vendor == "fjordsys" and channel is Channel.PORTAL else Hop.RECEIPTED
    if channel is Channel.ALTINN:
        final = Hop.FETCHED
    hops = {Hop.ACCEPTED: created_at + 1}
    if verdict is Verdict.DELIVERED:
        hops = dict.fromkeys(hops_of(channel), created_at + 60)
    return CanaryRecord(
        id=canary_id,
        channel=channel,
        municipality=municipality,
        vendor=vendor,
        bydel=None,
        final_hop=final,
        created_at=created_at,
        deadline_at=created_at + 1800,
        marker="KANARI1.a.b",
        state=State.IN_FLIGHT if verdict is None else State.RESOLVED,
        upstream_id=f"up-{canary_id}",
        hops=hops,
        verdict=verdict,
        blamed_hop=blamed[0] if blamed else None,
        blamed_owner=blamed[1] if blamed else None,
        diagnostics="KS: no receipt" if verdict is Verdict.LOST else None,
    )


def with_canaries(configured: ConfigDir, *records: CanaryRecord) -> Path:
    path = ledger_path(configured)
    ledger = Ledger(path)
    try:
        ledger.save(records)
    finally:
        ledger.close()
    return path


LOST_BERGEN = canary(
    "l1", Channel.PORTAL, "4601", "fjordsys", Verdict.LOST, blamed=(Hop.REGISTERED, Owner.VENDOR)
)
DELIVERED_OSLO = canary("d2", Channel.PORTAL, "0301", "plain", Verdict.DELIVERED)
UNKNOWN_ALTINN = canary("u3", Channel.ALTINN, "4601", "fjordsys", Verdict.UNKNOWN)


def status(
    capsys: pytest.CaptureFixture[str], configured: ConfigDir, *arguments: str
) -> tuple[int, str, str]:
    code = main(["status", "--config", str(configured.path), *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def routes_shown(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()[1:]]


def test_status_runs_with_no_secret_present(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_canaries(configured, LOST_BERGEN, DELIVERED_OSLO)
    shutil.rmtree(configured.path / "secrets")  # key files and secret files: none is left
    monkeypatch.delenv("KANARI_TEST_READBACK_TOKEN")
    code, out, err = status(capsys, configured)
    assert (code, err) == (0, "")
    assert routes_shown(out) == ["portal/0301", "portal/4601"]
    # The same directory is not usable for a command that sends.
    assert (
        main(["once", "--config", str(configured.path), "--municipality", "4601", "--channel", "portal"]) == 2
    )
    assert "secrets/fiks-passord" in capsys.readouterr().err


def test_a_postgres_ledger_password_that_cannot_be_read_is_named(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = configured.path / "secrets" / "pg-password"
    configured.edit(
        "kanari.yaml",
        "ledger: var/kanari.sqlite3",
        "ledger: var/kanari.sqlite3\nledger_postgres:\n  dsn: host=127.0.0.1 dbname=kanari\n"
        "  password: {file: secrets/pg-password}",
    )
    code, out, err = status(capsys, configured)
    assert (code, out) == (2, "")
    assert err == (
        f"configuration in {configured.path} is not usable: ledger_postgres.password: cannot read secret "
        f"file {missing}: No such file or directory\n"
    )


def test_only_probed_routes_are_shown_unless_all(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    with_canaries(configured, DELIVERED_OSLO)
    assert routes_shown(status(capsys, configured)[1]) == ["portal/0301"]
    code, out, _ = status(capsys, configured, "--all")
    assert code == 0
    assert routes_shown(out) == ["portal/0301", "altinn/4601", "portal/4601"]
    assert out.splitlines()[2].split()[4] == "-"  # never probed: no verdict


def test_an_empty_ledger_says_so(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> None:
    with_canaries(configured)
    assert status(capsys, configured) == (
        0,
        "no route has been probed yet (kanari run fills the ledger); --all lists every configured route\n",
        "",
    )


@pytest.mark.parametrize(
    ("arguments", "shown"),
    [
        (("--channel", "portal"), ["portal/0301", "portal/4601"]),
        (("--channel", "altinn"), ["altinn/4601"]),
        (("--vendor", "plain"), ["portal/0301"]),
        (("--county", "vestland"), ["altinn/4601", "portal/4601"]),
        (("--county", "46"), ["altinn/4601", "portal/4601"]),
        (("--municipality", "0301"), ["portal/0301"]),
        (("--municipality", "4601", "--channel", "portal"), ["portal/4601"]),
    ],
)
def test_filters(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], arguments: tuple[str, ...], shown: list[str]
) -> None:
    with_canaries(configured, LOST_BERGEN, DELIVERED_OSLO, UNKNOWN_ALTINN)
    code, out, err = status(capsys, configured, *arguments)
    assert (code, err) == (0, "")
    assert routes_shown(out) == shown


def test_an_unknown_channel_is_a_usage_error_naming_it(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["status", "--config", str(configured.path), "--channel", "fax"])
    assert exited.value.code == 2
    assert (
        "argument --channel: invalid choice: 'fax' (choose from 'portal', 'altinn')"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ("--municipality", "9999"),
            "--municipality 9999: no municipality has this kommunenummer in the registry (give the 4-digit "
            "kommunenummer, e.g. 4601)",
        ),
        (
            ("--municipality", "5001"),
            "--municipality 5001: Trondheim - Tråante has no configured route (onboard it with kanari "
            "onboard; 2 municipalities are configured)",
        ),
        (
            ("--vendor", "nordlys"),
            "--vendor nordlys: no configured route has this vendor (configured: fjordsys, plain)",
        ),
        (
            ("--county", "Finnmark"),
            "--county Finnmark: no configured route is in this county (give its name or number; configured: "
            "Oslo, Vestland)",
        ),
    ],
)
def test_a_filter_naming_nothing_configured_exits_2_saying_so(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], arguments: tuple[str, ...], message: str
) -> None:
    with_canaries(configured, DELIVERED_OSLO)
    assert status(capsys, configured, *arguments) == (2, "", f"kanari status: {message}\n")


def test_problems_exits_1_while_a_route_is_lost_or_failed(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    with_canaries(configured, LOST_BERGEN, DELIVERED_OSLO, UNKNOWN_ALTINN)
    code, out, _ = status(capsys, configured, "--problems")
    assert code == 1
    assert routes_shown(out) == ["portal/4601"]  # unknown is the probe's blindness, not the route's
    assert out.splitlines()[1].split()[4:6] == ["lost", "registered/vendor"]
    assert status(capsys, configured, "--problems", "--vendor", "plain") == (
        0,
        "no problems: no shown route's last verdict is lost or failed\n",
        "",
    )
    assert status(capsys, configured)[0] == 0  # without --problems the table is all it says


def test_problems_exits_0_once_the_route_delivers_again(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    later = canary("d4", Channel.PORTAL, "4601", "fjordsys", Verdict.DELIVERED, created_at=1_700_001_000.0)
    failed = canary("f5", Channel.PORTAL, "0301", "plain", Verdict.FAILED, blamed=(Hop.ACCEPTED, Owner.KS))
    with_canaries(configured, LOST_BERGEN, later, failed)
    code, out, _ = status(capsys, configured, "--problems")
    assert (code, routes_shown(out)) == (1, ["portal/0301"])
    code, out, _ = status(capsys, configured, "--problems", "--municipality", "4601")
    assert code == 0


def test_json_for_scripts(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> None:
    in_flight = canary("i6", Channel.PORTAL, "4601", "fjordsys", None, created_at=1_700_002_000.0)
    with_canaries(configured, LOST_BERGEN, DELIVERED_OSLO, in_flight)
    code, out, err = status(capsys, configured, "--json")
    assert (code, err) == (0, "")
    routes = {row["route"]: row for row in json.loads(out)["routes"]}
    assert list(routes) == ["portal/0301", "portal/4601"]
    assert routes["portal/4601"] == {
        "route": "portal/4601",
        "channel": "portal",
        "municipality": "4601",
        "municipality_name": "Bergen",
        "county": "Vestland",
        "vendor": "fjordsys",
        "final_hop": "registered",
        "version": None,
        "verdict": "lost",
        "blamed_hop": "registered",
        "blamed_owner": "vendor",
        "latency_seconds": None,
        "canary_id": "l1",
        "upstream_id": "up-l1",
        "sent_at": "2023-11-14T22:13:20.000Z",
        "unresolved": 1,
        "deadline_seconds": 1800.0,
        "deadline_source": "configured",
        "learned_deadlines": {},
        "detail": "KS: no receipt",
    }
    assert routes["portal/0301"]["verdict"] == "delivered"
    assert routes["portal/0301"]["latency_seconds"] == 60.0
    code, out, _ = status(capsys, configured, "--json", "--problems")
    assert code == 1
    assert [row["route"] for row in json.loads(out)["routes"]] == ["portal/4601"]


def test_the_deadline_column_shows_a_learned_bound_when_given(configured: ConfigDir) -> None:
    config = load_config(configured.path, configured.environ, with_secrets=False)
    latest = {LOST_BERGEN.route_key: [LOST_BERGEN], DELIVERED_OSLO.route_key: [DELIVERED_OSLO]}
    learned = {(Channel.PORTAL, "4601"): {Hop.RECEIPTED: 300.0, Hop.REGISTERED: 720.0}}
    lines = render_status(config, latest, deadlines=learned).splitlines()
    header = lines[0]
    column = header.index("DEADLINE")
    cells = {line.split()[0]: line[column:].split()[:2] for line in lines[1:]}
    assert cells == {"portal/4601": ["12m", "learned"], "portal/0301": ["30m", "configured"]}
    [bergen] = [
        row for row in route_statuses(config, latest, deadlines=learned) if row.route.kommunenummer == "4601"
    ]
    assert bergen.as_json()["learned_deadlines"] == {"receipted": 300.0, "registered": 720.0}
    assert (bergen.as_json()["deadline_seconds"], bergen.as_json()["deadline_source"]) == (720.0, "learned")


def test_the_deadline_learned_from_the_ledger_is_shown(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    # Fifty delivered canaries on Oslo's portal route (the default learning's cold start), the slowest
    # receipted after 109 s: the bound is twice that (a machine's hop), as the probe learns again at start.
    history = []
    for number in range(50):
        delivered = canary(f"h{number}", Channel.PORTAL, "0301", "plain", Verdict.DELIVERED)
        sent = 1_700_000_000.0 + 900 * number
        delivered.created_at = sent
        delivered.hops = {Hop.ACCEPTED: sent + 1, Hop.FORWARDED: sent + 5, Hop.RECEIPTED: sent + 60 + number}
        history.append(delivered)
    with_canaries(configured, *history)
    code, out, _ = status(capsys, configured, "--json", "--municipality", "0301")
    assert code == 0
    [oslo] = json.loads(out)["routes"]
    assert (oslo["deadline_seconds"], oslo["deadline_source"]) == (218.0, "learned")
    assert oslo["learned_deadlines"]["receipted"] == 218.0
