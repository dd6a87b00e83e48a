"""Environment → one typed, immutable settings object.

Read once at start-up (``python -m bot`` loads ``.env`` first with python-dotenv).
Every problem found is reported together in one :class:`SettingsError` that names
each variable and says how to fix it, so ``__main__`` can print one line per problem
instead of a traceback. Secrets are wrapped in :class:`Secret`, whose ``repr`` and
``str`` never show the value.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from bot.domain.addresses import is_public

DEFAULT_MAXAPI_BASE_URL = "https://api.maxapi.io"
DEFAULT_DATABASE_PATH = "data/atelier.db"
DEFAULT_WEBHOOK_LISTEN = "127.0.0.1:8080"
POSTGRES_SCHEMES = ("postgresql", "postgres")
#: When Max API may refund a cancelled task to the operator (see ``CANCEL_REFUNDS``).
CANCEL_REFUND_MODES = ("pending", "always", "never")

#: A space and then ``NAME=``: two lines of .env pasted as one (the value is never shown).
_PASTED_SETTING = re.compile(r"\s([A-Z][A-Z0-9_]*)=")


class SettingsError(ValueError):
    """Settings are missing or malformed; ``str()`` is one line per problem.

    ``problems`` holds every ``(name, problem)`` pair; ``name`` is the first name."""

    def __init__(self, name: str, problem: str, *more: tuple[str, str]) -> None:
        self.problems = [(name, problem), *more]
        self.name = name
        super().__init__("\n".join(f"{n}: {p}" for n, p in self.problems))


class DatabaseUnavailable(SettingsError):
    """The database (``DATABASE_PATH`` or ``DATABASE_URL``) could not be opened."""

    def __init__(self, path: Path | None, why: str) -> None:
        if path is None:  # PostgreSQL: ``why`` names the host, never the password
            super().__init__("DATABASE_URL", f"{why}; check the URL and that the server is running")
            return
        super().__init__(
            "DATABASE_PATH",
            f"cannot open {path} ({why}); point it at the bot's database or a new file "
            "in a folder the bot can write",
        )


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
    database_url: Secret | None = None
    """PostgreSQL (``DATABASE_URL``, holding a password); it wins over ``database_path``."""
    shard_count: int | None = None
    """Shards across all processes (``SHARD_COUNT``); ``None``: no sharding."""
    shard_ids: tuple[int, ...] | None = None
    """The shards this process runs (``SHARD_IDS``); ``None``: all of ``shard_count``."""
    discord_api_base_url: str | None = None
    """A Discord REST proxy such as ``http://127.0.0.1:8081/api/v10``; ``None``: Discord."""

    @property
    def database_label(self) -> str:
        """What database is used, for logs and ``check``; never the password."""
        if self.database_url is None:
            return f"SQLite at {self.database_path}"
        parts = urlsplit(self.database_url.get())
        host = parts.hostname or "?"
        where = f"[{host}]" if ":" in host else host
        name = parts.path.lstrip("/")
        return f"PostgreSQL at {where}:{parts.port or 5432}" + (f"/{name}" if name else "")

    @property
    def shard_label(self) -> str:
        """The shard plan of this process, in words."""
        if self.shard_count is None:
            return "no sharding: one gateway connection"
        if self.shard_ids is None:
            return f"every shard, 0 to {self.shard_count - 1}, of {self.shard_count}"
        return f"shards {', '.join(map(str, self.shard_ids))} of {self.shard_count}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a mapping such as ``os.environ``; raise one
        :class:`SettingsError` listing every problem found."""
        r = _Reader(env)
        discord_token = r.required(
            "DISCORD_TOKEN", "the bot token from the Discord developer portal (Bot → Reset Token)"
        )
        maxapi_key = r.required("MAXAPI_KEY", "the API secret from the Max API dashboard")
        maxapi_base_url = _parse_base_url(r)
        dev_guild_id = _parse_snowflake(r, "DEV_GUILD_ID")
        database_path = _parse_database_path(r)
        # While MAXAPI_BASE_URL is wrong, whether it is the simulator is not known.
        simulator = _is_loopback(maxapi_base_url) or r.reported("MAXAPI_BASE_URL")
        webhook_public_url = _parse_public_url(r, simulator=simulator)
        webhook_host, webhook_port = _parse_listen(
            r, "WEBHOOK_LISTEN", r.optional("WEBHOOK_LISTEN") or DEFAULT_WEBHOOK_LISTEN
        )
        metrics = r.optional("METRICS_LISTEN")
        metrics_host, metrics_port = (
            _parse_listen(r, "METRICS_LISTEN", metrics) if metrics else (None, 0)
        )
        metrics_token = r.optional("METRICS_TOKEN")
        shard_count, shard_ids = _parse_shards(r)
        settings = cls(
            discord_token=Secret(discord_token),
            maxapi_key=Secret(maxapi_key),
            maxapi_base_url=maxapi_base_url,
            dev_guild_id=dev_guild_id,
            database_path=database_path,
            webhook_public_url=webhook_public_url,
            webhook_host=webhook_host,
            webhook_port=webhook_port,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            metrics_token=Secret(metrics_token) if metrics_token else None,
            allowed_guild_ids=_parse_guild_ids(r),
            operator_budget_usd_per_day=_parse_budget(r, "OPERATOR_BUDGET_USD_PER_DAY"),
            operator_budget_usd_per_month=_parse_budget(r, "OPERATOR_BUDGET_USD_PER_MONTH"),
            cancel_refunds=_parse_cancel_refunds(r),
            poll_scale=r.number(
                "POLL_SCALE", 1.0, 0.001, 100, "must be a number from 0.001 to 100 (1.0 is normal)"
            ),
            poll_rate=_parse_poll_rate(r),
            poll_rate_max=r.number(
                "POLL_RATE_MAX",
                200.0,
                1,
                10_000,
                "must be a number of queries a second, 1 to 10000",
            ),
            log_level=_parse_log_level(r),
            catalog_path=_parse_catalog_path(r),
            database_url=_parse_database_url(r),
            shard_count=shard_count,
            shard_ids=shard_ids,
            discord_api_base_url=_parse_discord_api_base_url(r),
        )
        if r.problems:
            raise SettingsError(*r.problems[0], *r.problems[1:])
        return settings


class _Reader:
    """The environment being read, and every problem found in it so far."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[tuple[str, str]] = []

    def problem(self, name: str, problem: str) -> None:
        if not self.reported(name):
            self.problems.append((name, problem))

    def reported(self, name: str) -> bool:
        return any(seen == name for seen, _ in self.problems)

    def optional(self, name: str, *, spaces: bool = False) -> str | None:
        """The value without surrounding blanks, or None when unset or refused for
        holding a space (only values with ``spaces`` may hold one)."""
        value = (self.env.get(name) or "").strip()
        if not value:
            return None
        pasted = _PASTED_SETTING.search(value)
        if pasted:
            self.problem(
                name,
                f"holds a space and then {pasted.group(1)}=…: put each setting on its own "
                "line in .env",
            )
            return None
        if not spaces and any(c.isspace() for c in value):
            self.problem(
                name, "holds a space: remove it (and put each setting on its own line in .env)"
            )
            return None
        return value

    def required(self, name: str, what: str) -> str:
        value = self.optional(name)
        if value is None:
            self.problem(name, f"is not set; put {what} in .env or the environment")
            return ""
        return value

    def number(self, name: str, default: float, low: float, high: float, what: str) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:  # also NaN
            self.problem(name, what)
            return default
        return value


def _split(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # such as an unclosed [ of an IPv6 address
        return None


def _is_localhost(host: str) -> bool:
    host = host.rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


def _is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (the simulator): localhost or 127.x / ::1."""
    parts = _split(url)
    host = (parts.hostname or "") if parts else ""
    if _is_localhost(host):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _may_be_public(host: str) -> bool:
    """False for localhost and for loopback or private addresses; names other than
    localhost pass (``python -m bot check`` resolves them)."""
    host = host.rstrip(".")
    if _is_localhost(host):
        return False
    try:
        address = ipaddress.ip_address(int(host) if host.isdigit() else host)
    except ValueError:
        return True
    return is_public(str(address))


def _parse_base_url(r: _Reader) -> str:
    raw = r.optional("MAXAPI_BASE_URL") or DEFAULT_MAXAPI_BASE_URL
    parts = _split(raw)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        r.problem("MAXAPI_BASE_URL", "must be an http(s) URL such as https://api.maxapi.io")
        return DEFAULT_MAXAPI_BASE_URL
    return raw.rstrip("/")


def _parse_snowflake(r: _Reader, name: str) -> int | None:
    raw = r.optional(name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) <= 0:
        r.problem(
            name, "must be a server id (digits only; right-click the server → Copy Server ID)"
        )
        return None
    return int(raw)


def _parse_database_path(r: _Reader) -> Path:
    """The path, refused when it is a folder or lies under a file (what can be checked
    without creating anything; the store reports the rest when it opens)."""
    path = Path(r.optional("DATABASE_PATH", spaces=True) or DEFAULT_DATABASE_PATH)
    if path.is_dir():
        r.problem(
            "DATABASE_PATH", f"{path} is a folder; name a file in it, such as {path / 'atelier.db'}"
        )
    else:
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            r.problem(
                "DATABASE_PATH",
                f"{parent} is a file, not a folder; put the database in a folder, "
                "such as data/atelier.db",
            )
    return path


def _parse_public_url(r: _Reader, *, simulator: bool) -> str | None:
    """The callback URL prefix: https to a public host, as Max API requires; any
    http(s) URL when Max API is the simulator on loopback, which calls back there."""
    raw = r.optional("WEBHOOK_PUBLIC_URL")
    if raw is None:
        return None
    parts = _split(raw)
    example = "such as https://bot.example.com/maxapi"
    why = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        why = f"must be a public https URL prefix {example}"
    elif simulator:
        pass
    elif parts.scheme != "https":
        why = f"must be https (Max API calls back over https only), {example}"
    elif not _may_be_public(parts.hostname):
        why = (
            "is a loopback or private address, which Max API cannot reach; use your https "
            f"proxy's public URL, {example} (loopback works only with the simulator)"
        )
    if why:
        r.problem("WEBHOOK_PUBLIC_URL", why)
        return None
    return raw.rstrip("/")


def _parse_listen(r: _Reader, name: str, raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        r.problem(name, "must be host:port, for example 127.0.0.1:8080")
        return "127.0.0.1", 8080
    return host.strip("[]"), int(port)


def _parse_guild_ids(r: _Reader) -> frozenset[int] | None:
    raw = r.optional("ALLOWED_GUILD_IDS", spaces=True)
    if raw is None:
        return None
    parts = [part.strip() for part in raw.replace(" ", ",").split(",") if part.strip()]
    if not parts or not all(part.isdigit() and int(part) > 0 for part in parts):
        r.problem(
            "ALLOWED_GUILD_IDS",
            "must be server ids separated by commas, such as 123456789012345678,234567890123456789",
        )
        return None
    return frozenset(int(part) for part in parts)


def _parse_budget(r: _Reader, name: str) -> float | None:
    if r.optional(name) is None:
        return None
    return r.number(name, 0.0, 0, 1_000_000, "must be a number of US dollars, 0 or more")


def _parse_cancel_refunds(r: _Reader) -> str:
    raw = (r.optional("CANCEL_REFUNDS") or "pending").lower()
    if raw not in CANCEL_REFUND_MODES:
        r.problem(
            "CANCEL_REFUNDS",
            "must be pending (refund a cancel only before Max API started it), always or never",
        )
        return "pending"
    return raw


def _parse_poll_rate(r: _Reader) -> float | None:
    raw = (r.optional("POLL_RATE") or "auto").lower()
    if raw == "auto":
        return None
    what = "must be auto or a number of queries a second, 1 to 10000"
    return r.number("POLL_RATE", 20.0, 1, 10_000, what)


def _parse_log_level(r: _Reader) -> str:
    raw = (r.optional("LOG_LEVEL") or "INFO").upper()
    if raw not in logging.getLevelNamesMapping() or raw == "NOTSET":
        r.problem("LOG_LEVEL", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return "INFO"
    return raw


def _parse_catalog_path(r: _Reader) -> Path | None:
    raw = r.optional("CATALOG_PATH", spaces=True)
    if raw is None:
        return None
    path = Path(raw)
    if not path.is_file():
        r.problem("CATALOG_PATH", f"no file at {raw}; point it at a JSON catalogue")
        return None
    return path


def _parse_database_url(r: _Reader) -> Secret | None:
    """A PostgreSQL URL; no problem line ever quotes it (it holds a password)."""
    raw = (r.env.get("DATABASE_URL") or "").strip()
    if not raw:
        return None
    example = "such as postgresql://atelier:PASSWORD@db.example.com:5432/atelier"
    parts = _split(raw)
    why = None
    encode = "percent-encode the password's @ / ? # [ ] (as %40 %2F %3F %23 %5B %5D)"
    if any(c.isspace() for c in raw):
        why = "holds a space: remove it (put each setting on its own line in .env)"
    elif parts is None:
        why = f"cannot be read as a URL; {encode}"
    elif parts.scheme.lower() not in POSTGRES_SCHEMES:
        why = f"must start with postgresql:// or postgres://, {example}"
    elif "@" in parts.path + parts.query + parts.fragment:  # the password cut the URL
        why = f"has an @ after the host; {encode}"
    elif not parts.hostname:
        why = f"names no host, {example}"
    else:
        try:
            parts.port  # noqa: B018 - raises ValueError unless it is a port number
        except ValueError:
            why = f"the port of {parts.hostname} must be a number from 1 to 65535"
    if why:
        r.problem("DATABASE_URL", why)
        return None
    return Secret(raw)


def _parse_shards(r: _Reader) -> tuple[int | None, tuple[int, ...] | None]:
    raw_count = r.optional("SHARD_COUNT")
    raw_ids = r.optional("SHARD_IDS", spaces=True)
    count = None
    if raw_count is not None:
        if not raw_count.isdigit() or not 1 <= int(raw_count) <= 100_000:
            r.problem("SHARD_COUNT", "must be the number of shards across all processes, 1 or more")
            return None, None
        count = int(raw_count)
    if raw_ids is None:
        return count, None
    if count is None:
        r.problem("SHARD_IDS", "set SHARD_COUNT too (the number of shards of all processes)")
        return None, None
    parts = [part.strip() for part in raw_ids.split(",")]
    if not all(part.isdigit() for part in parts):
        r.problem("SHARD_IDS", "must be shard numbers separated by commas, such as 0,1")
    elif any(int(part) >= count for part in parts):
        r.problem("SHARD_IDS", f"each shard must be below SHARD_COUNT ({count}): 0 to {count - 1}")
    elif len({int(part) for part in parts}) < len(parts):
        r.problem("SHARD_IDS", "names a shard twice; list each shard once, such as 0,1")
    else:
        return count, tuple(int(part) for part in parts)
    return count, None


def _parse_discord_api_base_url(r: _Reader) -> str | None:
    raw = r.optional("DISCORD_API_BASE_URL")
    if raw is None:
        return None
    parts = _split(raw)
    url = raw.rstrip("/")
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        why = "must be an http(s) URL, such as http://127.0.0.1:8081/api/v10"
    elif not url.endswith("/api/v10"):
        why = "must end in Discord's API path /api/v10, such as http://127.0.0.1:8081/api/v10"
    else:
        return url
    r.problem("DISCORD_API_BASE_URL", why)
    return None
