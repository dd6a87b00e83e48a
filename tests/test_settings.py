"""Settings: required secrets, formats, every problem at once with one line each,
secrets never shown, and the database path refused before a traceback could be."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from bot.domain.catalog import Catalog
from bot.runtime import Runtime
from bot.settings import DatabaseUnavailable, Secret, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]

BASE = {"DISCORD_TOKEN": "discord-secret-token", "MAXAPI_KEY": "maxapi-secret-key"}


def test_minimal_environment_gives_documented_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.discord_token.get() == "discord-secret-token"
    assert settings.maxapi_key.get() == "maxapi-secret-key"
    assert settings.maxapi_base_url == "https://api.maxapi.io"
    assert settings.database_path == Path("data/atelier.db")
    assert settings.dev_guild_id is None
    assert settings.webhook_public_url is None
    # The listener is on loopback unless the operator opens it (behind an https proxy).
    assert (settings.webhook_host, settings.webhook_port) == ("127.0.0.1", 8080)
    assert settings.poll_scale == 1.0
    assert settings.log_level == "INFO"
    assert settings.allowed_guild_ids is None
    assert settings.operator_budget_usd_per_day is None
    assert settings.operator_budget_usd_per_month is None
    assert settings.cancel_refunds == "pending"
    assert (settings.metrics_host, settings.metrics_token) == (None, None)
    assert settings.database_url is None
    assert settings.database_label == "SQLite at data/atelier.db"
    assert (settings.shard_count, settings.shard_ids) == (None, None)
    assert settings.discord_api_base_url is None


def test_every_setting_is_read(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text("{}")
    env = {
        **BASE,
        "MAXAPI_BASE_URL": "http://127.0.0.1:8765/",
        "DEV_GUILD_ID": "123456789012345678",
        "DATABASE_PATH": str(tmp_path / "x.db"),
        "WEBHOOK_PUBLIC_URL": "https://bot.example.com/maxapi/",
        "WEBHOOK_LISTEN": "127.0.0.1:9000",
        "POLL_SCALE": "0.01",
        "POLL_RATE": "250",
        "LOG_LEVEL": "debug",
        "CATALOG_PATH": str(catalog),
        "ALLOWED_GUILD_IDS": "123456789012345678, 234567890123456789",
        "OPERATOR_BUDGET_USD_PER_DAY": "50",
        "OPERATOR_BUDGET_USD_PER_MONTH": "900.5",
        "CANCEL_REFUNDS": "always",
        "METRICS_LISTEN": "127.0.0.1:9100",
        "METRICS_TOKEN": "metrics-secret",
        "DATABASE_URL": "postgresql://atelier:db-secret@db.example.com:5433/atelier",
        "SHARD_COUNT": "4",
        "SHARD_IDS": "2, 3",
        "DISCORD_API_BASE_URL": "http://127.0.0.1:8081/api/v10/",
    }
    settings = Settings.from_env(env)
    assert settings.database_url == Secret(env["DATABASE_URL"])
    assert "db-secret" not in repr(settings)
    assert (settings.shard_count, settings.shard_ids) == (4, (2, 3))
    assert settings.discord_api_base_url == "http://127.0.0.1:8081/api/v10"
    assert settings.allowed_guild_ids == {123456789012345678, 234567890123456789}
    assert settings.operator_budget_usd_per_day == 50.0
    assert settings.operator_budget_usd_per_month == 900.5
    assert settings.cancel_refunds == "always"
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9100)
    assert settings.metrics_token == Secret("metrics-secret")
    assert "metrics-secret" not in repr(settings)
    assert settings.maxapi_base_url == "http://127.0.0.1:8765"
    assert settings.dev_guild_id == 123456789012345678
    assert settings.database_path == tmp_path / "x.db"
    assert settings.webhook_public_url == "https://bot.example.com/maxapi"
    assert (settings.webhook_host, settings.webhook_port) == ("127.0.0.1", 9000)
    assert settings.poll_scale == 0.01
    assert settings.poll_rate == 250.0
    assert settings.log_level == "DEBUG"
    assert settings.catalog_path == catalog


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"MAXAPI_KEY": "k"}, "DISCORD_TOKEN"),
        ({"DISCORD_TOKEN": "x"}, "MAXAPI_KEY"),
        ({"DISCORD_TOKEN": "  ", "MAXAPI_KEY": "k"}, "DISCORD_TOKEN"),
        ({**BASE, "MAXAPI_BASE_URL": "api.maxapi.io"}, "MAXAPI_BASE_URL"),
        ({**BASE, "MAXAPI_BASE_URL": "ftp://api.maxapi.io"}, "MAXAPI_BASE_URL"),
        ({**BASE, "DEV_GUILD_ID": "my-server"}, "DEV_GUILD_ID"),
        ({**BASE, "DEV_GUILD_ID": "0"}, "DEV_GUILD_ID"),
        ({**BASE, "WEBHOOK_PUBLIC_URL": "bot.example.com"}, "WEBHOOK_PUBLIC_URL"),
        ({**BASE, "WEBHOOK_LISTEN": "8080"}, "WEBHOOK_LISTEN"),
        ({**BASE, "WEBHOOK_LISTEN": "0.0.0.0:99999"}, "WEBHOOK_LISTEN"),
        ({**BASE, "POLL_SCALE": "fast"}, "POLL_SCALE"),
        ({**BASE, "POLL_SCALE": "0"}, "POLL_SCALE"),
        ({**BASE, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({**BASE, "POLL_RATE": "0"}, "POLL_RATE"),
        ({**BASE, "POLL_RATE": "lots"}, "POLL_RATE"),
        ({**BASE, "CATALOG_PATH": "/nonexistent/catalog.json"}, "CATALOG_PATH"),
        ({**BASE, "ALLOWED_GUILD_IDS": "my server"}, "ALLOWED_GUILD_IDS"),
        ({**BASE, "ALLOWED_GUILD_IDS": "123,-4"}, "ALLOWED_GUILD_IDS"),
        ({**BASE, "ALLOWED_GUILD_IDS": ","}, "ALLOWED_GUILD_IDS"),
        ({**BASE, "OPERATOR_BUDGET_USD_PER_DAY": "lots"}, "OPERATOR_BUDGET_USD_PER_DAY"),
        ({**BASE, "OPERATOR_BUDGET_USD_PER_MONTH": "-1"}, "OPERATOR_BUDGET_USD_PER_MONTH"),
        ({**BASE, "CANCEL_REFUNDS": "sometimes"}, "CANCEL_REFUNDS"),
        ({**BASE, "METRICS_LISTEN": "9100"}, "METRICS_LISTEN"),
        ({**BASE, "DATABASE_URL": "mysql://u:p@db/atelier"}, "DATABASE_URL"),
        ({**BASE, "SHARD_COUNT": "0"}, "SHARD_COUNT"),
        ({**BASE, "SHARD_COUNT": "two"}, "SHARD_COUNT"),
        ({**BASE, "SHARD_COUNT": "-2"}, "SHARD_COUNT"),
        ({**BASE, "SHARD_IDS": "0"}, "SHARD_IDS"),
        ({**BASE, "SHARD_COUNT": "2", "SHARD_IDS": "0;1"}, "SHARD_IDS"),
        ({**BASE, "SHARD_COUNT": "2", "SHARD_IDS": "0,"}, "SHARD_IDS"),
        ({**BASE, "SHARD_COUNT": "2", "SHARD_IDS": "2"}, "SHARD_IDS"),
        ({**BASE, "SHARD_COUNT": "2", "SHARD_IDS": "1,01"}, "SHARD_IDS"),
        ({**BASE, "DISCORD_API_BASE_URL": "127.0.0.1:8081"}, "DISCORD_API_BASE_URL"),
        ({**BASE, "DISCORD_API_BASE_URL": "ws://proxy/api/v10"}, "DISCORD_API_BASE_URL"),
        ({**BASE, "DISCORD_API_BASE_URL": "http://proxy:8081"}, "DISCORD_API_BASE_URL"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert info.value.name == name
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message


def test_secrets_never_show_in_repr_or_errors() -> None:
    settings = Settings.from_env(BASE)
    for text in (repr(settings), str(settings), repr(settings.discord_token), f"{settings}"):
        assert "discord-secret-token" not in text
        assert "maxapi-secret-key" not in text
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, "POLL_SCALE": "maxapi-secret-key"})
    assert "maxapi-secret-key" not in str(info.value)


def test_secret_equality_and_hash_use_the_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert len({Secret("a"), Secret("a")}) == 1


def problem_names(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    lines = str(info.value).splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [n for n, _ in info.value.problems]
    return [name for name, _ in info.value.problems]


def test_an_untouched_copy_of_env_example_reports_both_secrets_at_once() -> None:
    example = {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}
    assert problem_names(example) == ["DISCORD_TOKEN", "MAXAPI_KEY"]
    # Everything else in the file is valid as shipped, and says what the defaults are.
    assert Settings.from_env(example | BASE) == Settings.from_env(BASE)


def test_every_problem_is_reported_in_one_run() -> None:
    env = {
        "MAXAPI_KEY": "k",
        "DEV_GUILD_ID": "my-server",
        "WEBHOOK_LISTEN": "8080",
        "POLL_SCALE": "fast",
        "LOG_LEVEL": "LOUD",
    }
    names = problem_names(env)
    assert names == ["DISCORD_TOKEN", "DEV_GUILD_ID", "WEBHOOK_LISTEN", "POLL_SCALE", "LOG_LEVEL"]


def test_the_simulators_two_settings_pasted_as_one_line_are_refused(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "DISCORD_TOKEN=t\n"
        "MAXAPI_BASE_URL=http://127.0.0.1:8765 MAXAPI_KEY=sim-key\n"
        "WEBHOOK_PUBLIC_URL=http://127.0.0.1:9000/cb\n"  # right for the simulator
    )
    env = {k: v or "" for k, v in dotenv_values(dotenv).items()}
    # python-dotenv reads the rest of the line as the value.
    assert env["MAXAPI_BASE_URL"] == "http://127.0.0.1:8765 MAXAPI_KEY=sim-key"
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    problems = dict(info.value.problems)
    assert list(problems) == ["MAXAPI_KEY", "MAXAPI_BASE_URL"]
    assert "MAXAPI_KEY=" in problems["MAXAPI_BASE_URL"]
    assert "own line in .env" in problems["MAXAPI_BASE_URL"]
    assert "sim-key" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DISCORD_TOKEN", "secret-abc def"),
        ("MAXAPI_KEY", "secret-key\twith-tab"),
        ("METRICS_TOKEN", "secret-m x"),
        ("MAXAPI_BASE_URL", "http://127.0.0.1:8765 x"),
        ("WEBHOOK_PUBLIC_URL", "https://bot.example.com/cb POLL_SCALE=0.1"),
        ("WEBHOOK_LISTEN", "127.0.0.1:8080 LOG_LEVEL=debug"),
        ("METRICS_LISTEN", "127.0.0.1 :9100"),
        ("DEV_GUILD_ID", "1234 5678"),
        ("POLL_SCALE", "0.1 LOG_LEVEL=debug"),
        ("DATABASE_PATH", "data/atelier.db POLL_SCALE=0.1"),
        ("CATALOG_PATH", "catalog.json DEV_GUILD_ID=1"),
    ],
)
def test_a_value_holding_a_space_is_refused_with_a_hint(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, name: value})
    assert info.value.problems[0][0] == name
    assert info.value.problems[0][1].startswith("holds a space")
    assert "own line in .env" in str(info.value)
    assert "secret-" not in str(info.value)


def test_spaces_stay_allowed_where_a_value_may_hold_them(tmp_path: Path) -> None:
    folder = tmp_path / "my data"
    settings = Settings.from_env(
        {**BASE, "DATABASE_PATH": str(folder / "a.db"), "ALLOWED_GUILD_IDS": "12, 34"}
    )
    assert settings.database_path == folder / "a.db"
    assert settings.allowed_guild_ids == {12, 34}


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/cb",
        "https://127.0.0.1/cb",
        "https://localhost/cb",
        "https://app.localhost/cb",
        "https://10.0.0.5/cb",
        "https://192.168.1.2:8443/cb",
        "https://[::1]/cb",
        "https://[::ffff:127.0.0.1]/cb",
        "https://2130706433/cb",
    ],
)
def test_webhook_url_must_be_public_https(url: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, "WEBHOOK_PUBLIC_URL": url})
    assert info.value.name == "WEBHOOK_PUBLIC_URL"
    assert "https://bot.example.com/maxapi" in str(info.value)
    # A private Max API is not the simulator: the rule still holds.
    with pytest.raises(SettingsError):
        Settings.from_env(
            {**BASE, "WEBHOOK_PUBLIC_URL": url, "MAXAPI_BASE_URL": "http://10.0.0.2:8765"}
        )


@pytest.mark.parametrize(
    "url", ["https://bot.example.com/cb", "https://93.184.216.34/cb", "https://[2606:4700::1]/cb"]
)
def test_public_https_webhook_urls_pass(url: str) -> None:
    assert Settings.from_env({**BASE, "WEBHOOK_PUBLIC_URL": url}).webhook_public_url == url


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765"]
)
def test_with_the_simulator_on_loopback_a_loopback_http_webhook_passes(base: str) -> None:
    env = {**BASE, "MAXAPI_BASE_URL": base, "WEBHOOK_PUBLIC_URL": "http://127.0.0.1:9000/cb/"}
    assert Settings.from_env(env).webhook_public_url == "http://127.0.0.1:9000/cb"


def test_database_path_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, "DATABASE_PATH": str(tmp_path)})
    assert info.value.problems == [
        (
            "DATABASE_PATH",
            f"{tmp_path} is a folder; name a file in it, such as {tmp_path}/atelier.db",
        )
    ]


@pytest.mark.parametrize("under", ["x.db", "sub/x.db"])
def test_database_path_under_a_file_is_one_line(tmp_path: Path, under: str) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, "DATABASE_PATH": str(tmp_path / "file" / under)})
    assert info.value.name == "DATABASE_PATH"
    assert f"{tmp_path / 'file'} is a file, not a folder" in str(info.value)
    assert "\n" not in str(info.value)


async def test_a_file_that_is_not_a_database_stops_the_runtime_with_one_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, but a long enough text file " * 100)
    settings = Settings(discord_token=Secret("t"), maxapi_key=Secret("k"), database_path=path)
    with pytest.raises(DatabaseUnavailable) as info:
        await Runtime(settings, Catalog.load()).open()
    assert isinstance(info.value, SettingsError)
    assert str(info.value) == (
        f"DATABASE_PATH: cannot open {path} (file is not a database); point it at the "
        "bot's database or a new file in a folder the bot can write"
    )


def run_bot(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m bot`` in ``cwd`` with only ``env`` set (and no way to reach Max API)."""
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    clean |= {"PYTHONPATH": str(ROOT), "MAXAPI_BASE_URL": "http://127.0.0.1:9"}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        env=clean | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bot_with_database_path_under_a_file_prints_one_line_and_exits_2(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("")
    result = run_bot({**BASE, "DATABASE_PATH": str(tmp_path / "file" / "atelier.db")}, tmp_path)
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"atelier: DATABASE_PATH: {tmp_path / 'file'} is a file, not a folder; put the "
        "database in a folder, such as data/atelier.db"
    ]
    assert result.returncode == 2


def test_bot_with_a_file_that_is_not_a_database_prints_one_line_and_exits_2(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, but a long enough text file " * 100)
    result = run_bot({**BASE, "DATABASE_PATH": str(path)}, tmp_path)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("atelier: ")]
    assert errors == [
        f"atelier: DATABASE_PATH: cannot open {path} (file is not a database); "
        "point it at the bot's database or a new file in a folder the bot can write"
    ]
    assert result.returncode == 2


def test_bot_prints_every_settings_problem_on_its_own_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "DISCORD_TOKEN=\nMAXAPI_BASE_URL=http://127.0.0.1:8765 MAXAPI_KEY=sim-key\n"
    )
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        env=clean | {"PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = result.stderr.splitlines()
    assert [line.split(":")[:2] for line in lines] == [
        ["atelier", " DISCORD_TOKEN"],
        ["atelier", " MAXAPI_KEY"],
        ["atelier", " MAXAPI_BASE_URL"],
    ], result.stderr
    assert result.returncode == 2


# -- several processes: PostgreSQL, shards, a Discord REST proxy --------------------------

PASSWORD = "hunter2-Secret"


@pytest.mark.parametrize(
    ("url", "label"),
    [
        (
            f"postgresql://atelier:{PASSWORD}@db.example.com:5433/atelier",
            "db.example.com:5433/atelier",
        ),
        (f"postgres://atelier:{PASSWORD}@db/atelier?sslmode=require", "db:5432/atelier"),
        (f"postgresql://atelier:{PASSWORD}@[::1]/atelier", "[::1]:5432/atelier"),
        ("postgresql://db.internal", "db.internal:5432"),
        (f"postgresql://atelier:{PASSWORD.replace('-', '%40')}@db/a", "db:5432/a"),
    ],
)
def test_database_url_selects_postgresql_and_wins_over_the_path(url: str, label: str) -> None:
    settings = Settings.from_env({**BASE, "DATABASE_URL": url, "DATABASE_PATH": "other.db"})
    assert settings.database_url is not None and settings.database_url.get() == url
    assert settings.database_label == f"PostgreSQL at {label}"
    assert settings.database_path == Path("other.db")  # still read; the URL is what is used
    for text in (settings.database_label, repr(settings), str(settings)):
        assert PASSWORD not in text


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"mysql://atelier:{PASSWORD}@db/atelier", "must start with postgresql:// or postgres://"),
        (f"db.example.com:{PASSWORD}", "must start with postgresql:// or postgres://"),
        (f"postgresql://atelier:{PASSWORD}@/atelier", "names no host"),
        (f"postgresql://atelier:{PASSWORD}@db.example.com:54x2/atelier", "port of db.example.com"),
        (f"postgresql://atelier:{PASSWORD}@db.example.com:70000/a", "from 1 to 65535"),
        (f"postgresql://atelier:{PASSWORD}/x@db.example.com/atelier", "has an @ after the host"),
        (f"postgresql://atelier:{PASSWORD}?x@db.example.com/atelier", "has an @ after the host"),
        (f"postgresql://atelier:{PASSWORD}#x@db.example.com/atelier", "has an @ after the host"),
        (f"postgresql://atelier:5432/{PASSWORD}@db.example.com/a", "has an @ after the host"),
        (f"postgresql://atelier:[{PASSWORD}@db.example.com/a", "cannot be read as a URL"),
        (f"postgresql://atelier:{PASSWORD} x@db.example.com/a", "holds a space"),
        (f"postgresql://atelier:x {PASSWORD}=1@db/a", "holds a space"),
    ],
)
def test_a_malformed_database_url_is_one_line_without_the_password(url: str, says: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, "DATABASE_URL": url})
    message = str(info.value)
    assert info.value.problems[0][0] == "DATABASE_URL" and "\n" not in message
    assert says in message
    assert PASSWORD not in message and PASSWORD.lower() not in message.lower()


def test_shard_count_alone_runs_every_shard() -> None:
    settings = Settings.from_env({**BASE, "SHARD_COUNT": "3"})
    assert (settings.shard_count, settings.shard_ids) == (3, None)
    assert settings.shard_label == "every shard, 0 to 2, of 3"
    assert Settings.from_env(BASE).shard_label == "no sharding: one gateway connection"
    two = Settings.from_env({**BASE, "SHARD_COUNT": "4", "SHARD_IDS": "3,0"})
    assert (two.shard_ids, two.shard_label) == ((3, 0), "shards 3, 0 of 4")


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"SHARD_IDS": "0,1"},
            "SHARD_IDS: set SHARD_COUNT too (the number of shards of all processes)",
        ),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "1,2"},
            "SHARD_IDS: each shard must be below SHARD_COUNT (2): 0 to 1",
        ),
        (
            {"SHARD_COUNT": "4", "SHARD_IDS": "1, 2, 1"},
            "SHARD_IDS: names a shard twice; list each shard once, such as 0,1",
        ),
        (
            {"SHARD_COUNT": "4", "SHARD_IDS": "0-3"},
            "SHARD_IDS: must be shard numbers separated by commas, such as 0,1",
        ),
        (
            {"SHARD_COUNT": "many", "SHARD_IDS": "0"},
            "SHARD_COUNT: must be the number of shards across all processes, 1 or more",
        ),
    ],
)
def test_wrong_shard_settings_are_one_clear_line(env: dict[str, str], line: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, **env})
    assert str(info.value) == line


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8081/api/v10", "https://proxy.internal/discord/api/v10/"]
)
def test_discord_api_base_url_is_an_http_url_of_the_v10_api(url: str) -> None:
    settings = Settings.from_env({**BASE, "DISCORD_API_BASE_URL": url})
    assert settings.discord_api_base_url == url.rstrip("/")
