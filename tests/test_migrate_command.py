"""``python -m bot migrate-to-postgres`` as an operator runs it: counts per table, a second
run refused, and one line without the password for each thing to fix."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bot import cli
from bot.store import Store
from bot.store.transfer import TABLES
from tests.helpers.postgres import PostgresServer
from tests.helpers.store import job_values

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "s3cret-Pa55word"


def clean_env(**settings: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "SYSTEMROOT")}
    return {**kept, "HOME": tempfile.gettempdir(), "PYTHONPATH": str(ROOT), **settings}


def command(cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate-to-postgres"],
        env=clean_env(**settings),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_help_exits_0_without_settings(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "migrate-to-postgres", "--help"],
        env=clean_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("usage: python -m bot migrate-to-postgres")
    assert "DATABASE_PATH" in done.stdout and "DATABASE_URL" in done.stdout


def test_without_database_url_one_line_and_exit_2(tmp_path: Path) -> None:
    done = command(tmp_path, DATABASE_PATH=str(tmp_path / "atelier.db"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "atelier: DATABASE_URL is not set; put the URL of the PostgreSQL the bots will share "
        "in .env or the environment, such as "
        "postgresql://atelier:PASSWORD@db.example.com:5432/atelier"
    ]


def test_an_unreachable_server_one_line_without_the_password(tmp_path: Path) -> None:
    port = closed_port()
    url = f"postgresql://atelier:{PASSWORD}@127.0.0.1:{port}/atelier"
    # From .env, as an operator keeps it; the token and key are not needed.
    (tmp_path / ".env").write_text(f"DATABASE_URL={url}\nDATABASE_PATH=atelier.db\n")
    done = command(tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"atelier: DATABASE_URL: cannot reach PostgreSQL at 127.0.0.1:{port}"
    )
    assert "check the URL and that the server is running" in lines[0]
    assert PASSWORD not in done.stderr + done.stdout
    assert done.stdout == ""


def test_a_malformed_url_is_named_without_the_password(tmp_path: Path) -> None:
    done = command(tmp_path, DATABASE_URL=f"mysql://atelier:{PASSWORD}@127.0.0.1/atelier")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "atelier: DATABASE_URL: must start with postgresql:// or postgres://, such as "
        "postgresql://atelier:PASSWORD@db.example.com:5432/atelier"
    ]


async def test_copy_then_a_second_run_is_refused(
    tmp_path: Path,
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "data" / "atelier.db"
    lite = await Store.open(path)
    first = await lite.create_job(job_values())
    await lite.add_audit(1, 2, "limits set")
    await lite.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    url = postgres_server.new_database()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", "data/atelier.db")
    monkeypatch.setenv("DATABASE_URL", url)
    for name in ("DISCORD_TOKEN", "MAXAPI_KEY"):
        monkeypatch.delenv(name, raising=False)

    assert await asyncio.to_thread(cli.main, ["migrate-to-postgres"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == ""
    copied = {"jobs": 1, "job_events": 1, "audit": 1}
    assert lines[: len(TABLES)] == [f"{table}: {copied.get(table, 0)}" for table in TABLES]
    assert lines[len(TABLES) :] == [
        "copied 3 rows from SQLite at data/atelier.db into "
        f"PostgreSQL at 127.0.0.1:{url.rsplit(':', 1)[1]} in one transaction "
        "(data/atelier.db is unchanged); start the bots with DATABASE_URL set"
    ]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before

    assert await asyncio.to_thread(cli.main, ["migrate-to-postgres"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "atelier: the PostgreSQL database already holds jobs, job_events, audit: "
        "migrate-to-postgres copies into an empty database only, so it never runs twice; "
        "point DATABASE_URL at a new database"
    ]
    pg = await Store.open(url)
    try:
        assert await pg.get(first.id) == first
        assert await pg.count_by_state() == {"accepted": 1}
    finally:
        await pg.close()


def test_a_missing_sqlite_file_is_named(tmp_path: Path, postgres_server: PostgresServer) -> None:
    done = command(
        tmp_path,
        DATABASE_URL=postgres_server.new_database(),
        DATABASE_PATH=str(tmp_path / "nowhere.db"),
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"atelier: DATABASE_PATH: {tmp_path / 'nowhere.db'} does not exist; point it at the "
        "SQLite database to copy"
    ]
