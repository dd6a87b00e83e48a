"""``python -m bot migrate-to-postgres``: the SQLite database at ``DATABASE_PATH`` copied
into the PostgreSQL at ``DATABASE_URL``, once, all or nothing. One line per problem, no
traceback, never the password."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Mapping
from typing import TextIO

from bot.services import cluster
from bot.settings import Settings, SettingsError
from bot.store import Store, StoreUnavailable
from bot.store.transfer import TransferFailed, TransferRefused, copy_sqlite

EXIT_FAILED = 1
EXIT_CONFIG = 2
#: The only settings this command reads (the bot's token and key are not needed).
READS = ("DATABASE_PATH", "DATABASE_URL")
NO_URL = (
    "DATABASE_URL is not set; put the URL of the PostgreSQL the bots will share in .env or "
    "the environment, such as postgresql://atelier:PASSWORD@db.example.com:5432/atelier"
)
NO_DRIVER = (
    "PostgreSQL support is not installed: .venv/bin/pip install -e '.[postgres]' "
    "(or pip install 'psycopg[binary]>=3.2,<4')"
)


def say(line: str) -> None:
    print(f"atelier: {line}", file=sys.stderr)


def migrate_command(env: Mapping[str, str]) -> int:
    """Read the two settings from ``env`` and copy; the exit code (2: a setting or the
    target to fix, 1: the copy failed and was undone)."""
    try:
        settings = Settings.from_env(
            {name: env[name] for name in READS if name in env}
            | {"DISCORD_TOKEN": "unused", "MAXAPI_KEY": "unused"}
        )
    except SettingsError as exc:
        for line in str(exc).splitlines():
            say(line)
        return EXIT_CONFIG
    if settings.database_url is None:
        say(NO_URL)
        return EXIT_CONFIG
    if importlib.util.find_spec("psycopg") is None:
        say(NO_DRIVER)
        return EXIT_CONFIG
    try:
        return asyncio.run(migrate(settings))
    except KeyboardInterrupt:
        return 130


async def migrate(settings: Settings, out: TextIO | None = None) -> int:
    """Open (and so migrate) the PostgreSQL store, copy into it, print rows per table."""
    assert settings.database_url is not None
    out = out or sys.stdout
    try:
        store = await Store.open(settings.database_url.get())
    except StoreUnavailable as exc:
        say(f"DATABASE_URL: {exc}; check the URL and that the server is running")
        return EXIT_CONFIG
    path = settings.database_path
    try:
        counts = await copy_sqlite(store, path, alive_within=cluster.LEASE_SECONDS)
    except TransferRefused as exc:
        say(str(exc))
        return EXIT_FAILED if isinstance(exc, TransferFailed) else EXIT_CONFIG
    finally:
        await store.close()
    for table, rows in counts.items():
        print(f"{table}: {rows}", file=out)
    print(
        f"copied {sum(counts.values())} rows from SQLite at {path} into "
        f"{settings.database_label} in one transaction ({path} is unchanged); "
        "start the bots with DATABASE_URL set",
        file=out,
    )
    return 0
