"""Settings: required secrets, formats, one-line errors, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Secret, Settings, SettingsError

BASE = {"DISCORD_TOKEN": "discord-secret-token", "MAXAPI_KEY": "maxapi-secret-key"}


def test_minimal_environment_gives_documented_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.discord_token.get() == "discord-secret-token"
    assert settings.maxapi_key.get() == "maxapi-secret-key"
    assert settings.maxapi_base_url == "https://api.maxapi.io"
    assert settings.database_path == Path("data/atelier.db")
    assert settings.dev_guild_id is None
    assert settings.webhook_public_url is None
    assert (settings.webhook_host, settings.webhook_port) == ("0.0.0.0", 8080)
    assert settings.poll_scale == 1.0
    assert settings.log_level == "INFO"


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
    }
    settings = Settings.from_env(env)
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
        ({}, "DISCORD_TOKEN"),
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
