"""``ledger_postgres``: the PostgreSQL ledger's DSN, password and lease, from kanari.yaml or the
environment; a password written into the DSN is refused without being shown."""

from __future__ import annotations

from probe.cli.checking import ledger_check
from tests.config.conftest import ConfigDir


def test_dsn_password_and_lease_from_the_environment(valid_config: ConfigDir) -> None:
    result = valid_config.check(
        KANARI_LEDGER_POSTGRES__DSN="host=db.example dbname=kanari user=kanari sslmode=verify-full",
        KANARI_LEDGER_POSTGRES__PASSWORD="env:KANARI_TEST_LEDGER_PASSWORD",
        KANARI_TEST_LEDGER_PASSWORD="s3cret-ledger",
        KANARI_LEDGER_POSTGRES__LEASE="20s",
    )
    assert result.errors == []
    assert result.config is not None
    postgres = result.config.settings.ledger_postgres
    assert postgres is not None
    assert postgres.dsn == "host=db.example dbname=kanari user=kanari sslmode=verify-full"
    assert postgres.lease == 20.0
    assert postgres.password is not None
    assert postgres.password.value() == "s3cret-ledger"
    assert "s3cret-ledger" not in repr(postgres)


def test_the_default_lease_is_15_seconds(valid_config: ConfigDir) -> None:
    result = valid_config.check(KANARI_LEDGER_POSTGRES__DSN="host=db.example dbname=kanari")
    assert result.config is not None
    assert result.config.settings.ledger_postgres is not None
    assert result.config.settings.ledger_postgres.lease == 15.0


def test_a_password_in_the_dsn_is_refused_and_never_shown(valid_config: ConfigDir) -> None:
    for dsn in ("postgresql://kanari:hunter2@db.example/kanari", "host=db.example password=hunter2"):
        [problem] = valid_config.problems(KANARI_LEDGER_POSTGRES__DSN=dsn)
        assert problem.startswith(
            "environment variable KANARI_LEDGER_POSTGRES__DSN: ledger_postgres.dsn: holds a"
        )
        assert "put it in ledger_postgres.password (file: or env:)" in problem
        assert "hunter2" not in problem


def test_a_dsn_that_does_not_parse_is_refused_unshown(valid_config: ConfigDir) -> None:
    [problem] = valid_config.problems(KANARI_LEDGER_POSTGRES__DSN="host='unterminated hunter2")
    assert "is not a libpq connection string or URI (value not shown)" in problem
    assert "hunter2" not in problem


def test_a_lease_out_of_bounds_says_why(valid_config: ConfigDir) -> None:
    [problem] = valid_config.problems(
        KANARI_LEDGER_POSTGRES__DSN="host=db dbname=k", KANARI_LEDGER_POSTGRES__LEASE="1s"
    )
    assert "ledger_postgres.lease must be between 3s and 5m" in problem


def test_config_check_leaves_the_unused_sqlite_ledger_alone(valid_config: ConfigDir) -> None:
    # The SQLite ledger's place is a directory (an error for it), but the ledger is in PostgreSQL.
    (valid_config.path / "var-as-dir").mkdir()
    result = valid_config.check(
        KANARI_LEDGER="var-as-dir", KANARI_LEDGER_POSTGRES__DSN="host=db.example dbname=kanari user=kanari"
    )
    assert result.config is not None
    assert ledger_check(result.config) == ([], [])
    without = valid_config.check(KANARI_LEDGER="var-as-dir")
    assert without.config is not None
    [problem], _ = ledger_check(without.config)
    assert "it is a directory, not a file" in problem.render()
