"""The index does not answer: one line on stderr naming the index and the cause, exit 2.

PostgreSQL on a closed port, PostgreSQL refusing the role or the database, a SQLite file that
cannot be opened: every command says ``error: the index does not answer: <cause>`` and nothing
else (not the driver's second line, not SQLAlchemy's "Background on this error" link), and
``vault up`` says so too instead of "schema migration failed".
"""

from __future__ import annotations

import pytest
import typer
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from conftest import PG_URL, run_cli, with_settings, write_config
from vault.cli import app, handle_errors
from vault.config import Settings

CLOSED_PORT = "postgresql+psycopg://postgres@127.0.0.1:1/test"
NO_SQLITE_FILE = "sqlite:////nonexistent-dir-of-the-vault-tests/index.sqlite3"


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    return lines[0]


def _cli(settings: Settings, url: str, *args: str) -> tuple[int, str]:
    write_config(with_settings(settings, database_url=url))
    r = CliRunner().invoke(app, list(args), env={"VAULT_HOME": str(settings.home)})
    return r.exit_code, r.stderr


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        (CLOSED_PORT, "connection refused"),
        (NO_SQLITE_FILE, "unable to open database file"),
    ],
)
@pytest.mark.parametrize(
    "args",
    [("verify", "ev_01m8kx9vjy68dgky9kdseffd40"), ("journal", "verify"), ("seal",), ("retention", "plan")],
)
def test_every_command_says_one_line(settings: Settings, url: str, cause: str, args: tuple[str, ...]) -> None:
    code, stderr = _cli(settings, url, *args)
    line = _one_line(stderr)
    assert code == 2, stderr
    assert line.startswith("error: the index does not answer: "), line
    assert cause in line and "Background on this error" not in line and "unexpected" not in line, line


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL's own refusals need the PostgreSQL of VAULT_TEST_DATABASE_URL")
@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("postgresql+psycopg://no_such_role_of_the_vault@127.0.0.1:5432/test", 'role "no_such_role_of_the_vault"'),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/no_such_database_of_the_vault", "does not exist"),
    ],
)
def test_postgresql_refusals_name_their_cause(settings: Settings, url: str, cause: str) -> None:
    code, stderr = _cli(settings, url, "journal", "verify")
    line = _one_line(stderr)
    assert code == 2 and line.startswith("error: the index does not answer: ") and cause in line, line


@pytest.mark.parametrize(("url", "cause"), [(CLOSED_PORT, "connection refused"), (NO_SQLITE_FILE, "unable to open")])
def test_up_and_init_say_the_index_does_not_answer(settings: Settings, url: str, cause: str) -> None:
    """Not "schema migration failed": nothing was migrated, the index was never reached."""
    down = with_settings(settings, database_url=url)
    r = run_cli(down, "up", "--port", "0")  # a subprocess: `vault up` sets signal handlers and logging
    line = _one_line(r.stderr.decode())
    assert r.returncode == 2, line
    assert line.startswith("error: the index does not answer: ") and cause in line, line
    code, stderr = _cli(settings, url, "init")
    line = _one_line(stderr)
    assert code == 2 and line.startswith("error: the index does not answer: ") and cause in line, line


def test_an_index_error_in_the_middle_of_a_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The connection lost after the command opened the index: SQLAlchemy's error, wherever it
    surfaces, still ends as one line naming the index."""
    driver = Exception("server closed the connection unexpectedly\n\tThis probably means the server terminated")

    @handle_errors
    def command() -> None:
        raise OperationalError("SELECT 1", {}, driver)

    with pytest.raises(typer.Exit) as e:
        command()
    assert e.value.exit_code == 2
    line = _one_line(capsys.readouterr().err)
    assert line == "error: the index does not answer: server closed the connection unexpectedly", line
