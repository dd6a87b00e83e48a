"""``python -m bot``: configuration errors are one line and a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bot(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "SYSTEMROOT", "LANG")}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_empty_environment_names_both_required_settings_at_once(tmp_path: Path) -> None:
    result = run_bot({}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[:2] for line in lines] == [
        ["atelier", " DISCORD_TOKEN"],
        ["atelier", " MAXAPI_KEY"],
    ], result.stderr
    assert "Traceback" not in result.stderr


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-dotenv\nPOLL_SCALE=nope\n")
    result = run_bot({"MAXAPI_KEY": "k"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("atelier: POLL_SCALE:")
    assert "from-dotenv" not in result.stderr


@pytest.mark.parametrize("bad", ["{not json", '{"models": {"x": {"media": "sound"}}}'])
def test_broken_catalogue_override_is_one_line(tmp_path: Path, bad: str) -> None:
    override = tmp_path / "catalog.json"
    override.write_text(bad)
    result = run_bot(
        {"DISCORD_TOKEN": "t", "MAXAPI_KEY": "k", "CATALOG_PATH": str(override)}, tmp_path
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "catalog" in result.stderr.lower()


def test_an_unreachable_postgresql_is_one_line_without_the_password(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    url = f"postgresql://atelier:hunter2-secret@127.0.0.1:{port}/atelier"
    result = run_bot(
        {"DISCORD_TOKEN": "t" * 20, "MAXAPI_KEY": "k" * 20, "DATABASE_URL": url}, tmp_path
    )
    assert result.returncode == 2
    [line] = [x for x in result.stderr.splitlines() if x.startswith("atelier:")]
    assert line == (
        f"atelier: DATABASE_URL: cannot reach PostgreSQL at 127.0.0.1:{port}/atelier "
        "(Connection refused); check the URL and that the server is running"
    )
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr
