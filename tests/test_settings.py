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
    # The listener is on loopback unless the operator opens it (behind an https proxy).
    assert (settings.webhook_host, settings.webhook_port) == ("127.0.0.1", 8080)
    assert settings.poll_scale == 1.0
    assert settings.log_level == "INFO"
    assert settings.allowed_guild_ids is None
    assert settings.operator_budget_usd_per_day is None
    assert settings.operator_budget_usd_per_month is None
    assert settings.cancel_refunds == "pending"
    assert (settings.metrics_host, settings.metrics_token) == (None, None)


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
    }
    settings = Settings.from_env(env)
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
        ({**BASE, "ALLOWED_GUILD_IDS": "my server"}, "ALLOWED_GUILD_IDS"),
        ({**BASE, "ALLOWED_GUILD_IDS": "123,-4"}, "ALLOWED_GUILD_IDS"),
        ({**BASE, "ALLOWED_GUILD_IDS": ","}, "ALLOWED_GUILD_IDS"),
        ({**BASE, "OPERATOR_BUDGET_USD_PER_DAY": "lots"}, "OPERATOR_BUDGET_USD_PER_DAY"),
        ({**BASE, "OPERATOR_BUDGET_USD_PER_MONTH": "-1"}, "OPERATOR_BUDGET_USD_PER_MONTH"),
        ({**BASE, "CANCEL_REFUNDS": "sometimes"}, "CANCEL_REFUNDS"),
        ({**BASE, "METRICS_LISTEN": "9100"}, "METRICS_LISTEN"),
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
