"""Environment → one typed, immutable settings object.

Read once at start-up (``python -m bot`` loads ``.env`` first with python-dotenv).
Every problem is a :class:`SettingsError` that names the variable and says how to
fix it, so ``__main__`` can print one line instead of a traceback. Secrets are
wrapped in :class:`Secret`, whose ``repr`` and ``str`` never show the value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_MAXAPI_BASE_URL = "https://api.maxapi.io"
DEFAULT_DATABASE_PATH = "data/atelier.db"
DEFAULT_WEBHOOK_LISTEN = "127.0.0.1:8080"
#: When Max API may refund a cancelled task to the operator (see ``CANCEL_REFUNDS``).
CANCEL_REFUND_MODES = ("pending", "always", "never")


class SettingsError(ValueError):
    """A setting is missing or malformed; ``str()`` is the one line to show."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


class Secret:
    """A string that never shows itself in a repr, a log line or an error."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Settings:
    discord_token: Secret
    maxapi_key: Secret
    maxapi_base_url: str = DEFAULT_MAXAPI_BASE_URL
    dev_guild_id: int | None = None
    database_path: Path = Path(DEFAULT_DATABASE_PATH)
    webhook_public_url: str | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    metrics_host: str | None = None
    """Where ``/metrics`` is served on its own (``METRICS_LISTEN``); ``None``: not at all."""
    metrics_port: int = 0
    metrics_token: Secret | None = None
    """A bearer token ``/metrics`` requires (``METRICS_TOKEN``); ``None``: no token."""
    allowed_guild_ids: frozenset[int] | None = None
    """The servers the bot serves (``ALLOWED_GUILD_IDS``); ``None``: every server."""
    operator_budget_usd_per_day: float | None = None
    """The most all servers together may spend in a UTC day; ``None``: no cap."""
    operator_budget_usd_per_month: float | None = None
    cancel_refunds: str = "pending"
    """``pending``: a cancel refunds the member only while Max API had not started the
    task; ``always``; ``never``."""
    poll_scale: float = 1.0
    poll_rate: float | None = None
    """Most Max API task queries a second (``POLL_RATE``); ``None``: auto, up to
    ``poll_rate_max``."""
    poll_rate_max: float = 200.0
    log_level: str = "INFO"
    catalog_path: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a mapping such as ``os.environ``; raise on the first problem."""
        host, port = _parse_listen(
            env.get("WEBHOOK_LISTEN", DEFAULT_WEBHOOK_LISTEN) or DEFAULT_WEBHOOK_LISTEN
        )
        catalog = _optional(env, "CATALOG_PATH")
        metrics = _optional(env, "METRICS_LISTEN")
        metrics_host, metrics_port = (
            _parse_listen(metrics, "METRICS_LISTEN") if metrics else (None, 0)
        )
        metrics_token = _optional(env, "METRICS_TOKEN")
        return cls(
            discord_token=Secret(
                _required(
                    env,
                    "DISCORD_TOKEN",
                    "the bot token from the Discord developer portal (Bot → Reset Token)",
                )
            ),
            maxapi_key=Secret(
                _required(env, "MAXAPI_KEY", "the API secret from the Max API dashboard")
            ),
            maxapi_base_url=_parse_base_url(
                env.get("MAXAPI_BASE_URL", DEFAULT_MAXAPI_BASE_URL) or DEFAULT_MAXAPI_BASE_URL
            ),
            dev_guild_id=_parse_snowflake(env, "DEV_GUILD_ID"),
            database_path=Path(_optional(env, "DATABASE_PATH") or DEFAULT_DATABASE_PATH),
            webhook_public_url=_parse_public_url(env),
            webhook_host=host,
            webhook_port=port,
            poll_scale=_parse_poll_scale(env),
            poll_rate=_parse_poll_rate(env),
            poll_rate_max=_parse_number(
                env,
                "POLL_RATE_MAX",
                200.0,
                1,
                10_000,
                "must be a number of queries a second, 1 to 10000",
            ),
            log_level=_parse_log_level(env),
            catalog_path=_parse_catalog_path(catalog),
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            metrics_token=Secret(metrics_token) if metrics_token else None,
            allowed_guild_ids=_parse_guild_ids(env),
            operator_budget_usd_per_day=_parse_budget(env, "OPERATOR_BUDGET_USD_PER_DAY"),
            operator_budget_usd_per_month=_parse_budget(env, "OPERATOR_BUDGET_USD_PER_MONTH"),
            cancel_refunds=_parse_cancel_refunds(env),
        )


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _required(env: Mapping[str, str], name: str, what: str) -> str:
    value = _optional(env, name)
    if value is None:
        raise SettingsError(name, f"is not set; put {what} in .env or the environment")
    return value


def _parse_base_url(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            "MAXAPI_BASE_URL", "must be an http(s) URL such as https://api.maxapi.io"
        )
    return raw.strip().rstrip("/")


def _parse_snowflake(env: Mapping[str, str], name: str) -> int | None:
    raw = _optional(env, name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError(
            name, "must be a server id (digits only; right-click the server → Copy Server ID)"
        )
    return int(raw)


def _parse_public_url(env: Mapping[str, str]) -> str | None:
    raw = _optional(env, "WEBHOOK_PUBLIC_URL")
    if raw is None:
        return None
    parts = urlsplit(raw)
    # Max API refuses non-public callback URLs; http is allowed only so that the
    # simulator can call back on loopback in tests and demos.
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            "WEBHOOK_PUBLIC_URL",
            "must be a public https URL prefix such as https://bot.example.com/maxapi",
        )
    return raw.rstrip("/")


def _parse_listen(raw: str, name: str = "WEBHOOK_LISTEN") -> tuple[str, int]:
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(name, "must be host:port, for example 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def _parse_guild_ids(env: Mapping[str, str]) -> frozenset[int] | None:
    raw = _optional(env, "ALLOWED_GUILD_IDS")
    if raw is None:
        return None
    parts = [part.strip() for part in raw.replace(" ", ",").split(",") if part.strip()]
    if not parts or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise SettingsError(
            "ALLOWED_GUILD_IDS",
            "must be server ids separated by commas, such as 123456789012345678,234567890123456789",
        )
    return frozenset(int(part) for part in parts)


def _parse_budget(env: Mapping[str, str], name: str) -> float | None:
    if _optional(env, name) is None:
        return None
    return _parse_number(env, name, 0.0, 0, 1_000_000, "must be a number of US dollars, 0 or more")


def _parse_cancel_refunds(env: Mapping[str, str]) -> str:
    raw = (_optional(env, "CANCEL_REFUNDS") or "pending").lower()
    if raw not in CANCEL_REFUND_MODES:
        raise SettingsError(
            "CANCEL_REFUNDS",
            "must be pending (refund a cancel only before Max API started it), always or never",
        )
    return raw


def _parse_number(
    env: Mapping[str, str], name: str, default: float, low: float, high: float, what: str
) -> float:
    raw = _optional(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SettingsError(name, what)
    return value


def _parse_poll_scale(env: Mapping[str, str]) -> float:
    return _parse_number(
        env, "POLL_SCALE", 1.0, 0.001, 100, "must be a number from 0.001 to 100 (1.0 is normal)"
    )


def _parse_poll_rate(env: Mapping[str, str]) -> float | None:
    raw = (_optional(env, "POLL_RATE") or "auto").lower()
    if raw == "auto":
        return None
    return _parse_number(
        env,
        "POLL_RATE",
        20.0,
        1,
        10_000,
        "must be auto or a number of queries a second, 1 to 10000",
    )


def _parse_log_level(env: Mapping[str, str]) -> str:
    raw = (_optional(env, "LOG_LEVEL") or "INFO").upper()
    if raw not in logging.getLevelNamesMapping() or raw == "NOTSET":
        raise SettingsError("LOG_LEVEL", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return raw


def _parse_catalog_path(raw: str | None) -> Path | None:
    if raw is None:
        return None
    path = Path(raw)
    if not path.is_file():
        raise SettingsError("CATALOG_PATH", f"no file at {raw}; point it at a JSON catalogue")
    return path
