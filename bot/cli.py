"""The command line: ``python -m bot [run|check|simulate|migrate-to-postgres]`` (``run`` is
the default).

A problem an operator can fix ends with one line on stderr and exit code 2, never a
traceback; an unreachable Discord is waited out, one line a try."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import discord
from discord.http import Route
from dotenv import load_dotenv

from bot import check, logs, migrate
from bot.domain.catalog import Catalog, CatalogError
from bot.settings import Settings, SettingsError

log = logging.getLogger("bot")

EXIT_CONFIG = 2
RETRY_FIRST = 1.0  # seconds before the second try to reach Discord; doubles each time
RETRY_CAP = 60.0
DISCORD_TIMEOUT = 30.0  # seconds for each try
PILLOW_HINT = (
    "atelier: the simulator needs Pillow, which is not installed; run scripts/simulate.sh "
    "(it installs it first) or .venv/bin/pip install -e '.[simulator]'"
)
#: Discord going away while the bot logs in or connects.
DISCONNECTED = (OSError, aiohttp.ClientError, TimeoutError, discord.HTTPException)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Atelier: a Discord bot for the image and video models behind Max API. "
        "Settings come from .env in the current folder and from the environment, which wins.",
    )
    commands = parser.add_subparsers(
        dest="command", metavar="{run,check,simulate,migrate-to-postgres}"
    )
    commands.add_parser(
        "run",
        help="run the bot until SIGTERM or Ctrl-C (the default)",
        description="Run the bot until SIGTERM or Ctrl-C. Exit code 2: a setting to fix.",
    )
    commands.add_parser(
        "check",
        help="check the settings, database, Discord token, Max API key and webhook",
        description="Check everything the bot needs without starting it: one line per check "
        "(✓ or ✗ and what to do). Exit code 0 only when every check passes.",
    )
    commands.add_parser(
        "simulate",
        help="start the Max API simulator (python -m bot simulate --help for its options)",
        add_help=False,
    )
    commands.add_parser(
        "migrate-to-postgres",
        help="copy the SQLite database (DATABASE_PATH) into PostgreSQL (DATABASE_URL), once",
        description="Copy every table of the SQLite database at DATABASE_PATH into the empty "
        "PostgreSQL database at DATABASE_URL, in one transaction; the SQLite file is only read. "
        "Stop the bot first. Exit code 2: a setting to fix or a target that is not empty.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["simulate"]:  # every further argument is the simulator's
        return simulate(args[1:])
    try:
        command = build_parser().parse_args(args).command
    except SystemExit as exc:  # --help (0) or a bad argument (2; argparse said why)
        return exc.code if isinstance(exc.code, int) else EXIT_CONFIG
    if command == "check":
        return check_command()
    if command == "migrate-to-postgres":
        return migrate.migrate_command(read_env())
    return run_command()


# -- run -----------------------------------------------------------------------------------


def read_env() -> dict[str, str]:
    """``.env`` of the folder the operator starts from (the real environment wins)."""
    load_dotenv(Path.cwd() / ".env", override=False)
    return dict(os.environ)


def load_configuration(env: dict[str, str] | None = None) -> tuple[Settings, Catalog]:
    settings = Settings.from_env(read_env() if env is None else env)
    return settings, Catalog.load(settings.catalog_path)


def report(problem: Exception) -> None:
    for line in str(problem).splitlines():
        say(line)


def run_command() -> int:
    try:
        settings, catalog = load_configuration()
    except (SettingsError, CatalogError) as exc:
        report(exc)
        return EXIT_CONFIG
    logs.configure(
        settings.log_level, secrets=(settings.discord_token.get(), settings.maxapi_key.get())
    )
    try:
        return asyncio.run(run(settings, catalog))
    except SettingsError as exc:  # the database could not be opened
        report(exc)
        return EXIT_CONFIG
    except KeyboardInterrupt:  # before the signal handlers were in place
        return 130


def announce(settings: Settings) -> None:
    """What this start uses, before anything connects."""
    log.info("Max API: %s", settings.maxapi_base_url)
    log.info("database: %s", settings.database_label)
    if settings.dev_guild_id is not None:
        log.info("command sync: dev guild %s only (instant)", settings.dev_guild_id)
    else:
        log.info("command sync: global, only when the commands changed")
    log.info("shard plan: %s", settings.shard_label)


async def run(
    settings: Settings,
    catalog: Catalog,
    *,
    retry_first: float = RETRY_FIRST,
    retry_cap: float = RETRY_CAP,
    discord_timeout: float = DISCORD_TIMEOUT,
) -> int:
    """Run the bot until a signal or a fatal error; return the exit code."""
    from bot.discord_io.client import AtelierBot  # the cogs' imports: only when the bot runs
    from bot.runtime import Runtime

    announce(settings)
    token = settings.discord_token.get()
    async with Runtime(settings, catalog) as runtime:
        bot = AtelierBot(runtime.services())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        handled = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)

        async def connect() -> None:
            await reach_discord(token, first=retry_first, cap=retry_cap, within=discord_timeout)
            await bot.login(token)
            await connect_gateway(bot, first=retry_first, cap=retry_cap)

        gateway_log = OneLineReconnects(bot)
        logging.getLogger("discord.client").addFilter(gateway_log)
        key_check = asyncio.create_task(check_key(settings), name="maxapi-key-check")
        runner = asyncio.create_task(connect(), name="discord")
        stopper = asyncio.create_task(stop.wait(), name="signals")
        try:
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                runner.result()  # re-raise a login failure
                return 0
            log.info("signal received; shutting down")
            return 0
        except Exception as exc:
            return start_failure(exc, settings)
        finally:
            stopper.cancel()
            key_check.cancel()
            await bot.close()
            runner.cancel()  # still trying to reach Discord, or already ended by close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
            for sig in handled:
                loop.remove_signal_handler(sig)
            logging.getLogger("discord.client").removeFilter(gateway_log)


def start_failure(exc: Exception, settings: Settings) -> int:
    """One line for a start that Discord ended, and the exit code (2: a setting to fix).
    Anything else is raised again."""
    if isinstance(exc, check.TokenRefused | discord.LoginFailure):
        say(
            "DISCORD_TOKEN was refused by Discord; reset it in the developer portal "
            "(Bot → Reset Token) and update .env"
        )
        return EXIT_CONFIG
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        say(
            "Discord refused the gateway intents; Atelier needs none privileged — check "
            "the bot's settings"
        )
        return EXIT_CONFIG
    if isinstance(exc, discord.Forbidden) and settings.dev_guild_id is not None:
        say(
            f"DEV_GUILD_ID: Discord refused the commands for server {settings.dev_guild_id} "
            f"({exc.text or exc.status}); invite the bot there (python -m bot check prints "
            "the URL) or unset DEV_GUILD_ID"
        )
        return EXIT_CONFIG
    if isinstance(exc, (*DISCONNECTED, check.DiscordRefused)):
        log.error(
            "Discord failed while the bot was starting (%s); exiting: start it again",
            check.describe(exc),
        )
        return 1
    raise exc


def say(line: str) -> None:
    print(f"atelier: {line}", file=sys.stderr)


async def reach_discord(token: str, *, first: float, cap: float, within: float) -> None:
    """Return once Discord answers ``GET /users/@me``; until then log one line a try and
    wait ``first``, twice that, … up to ``cap`` seconds. Raise ``TokenRefused`` at once."""
    delay = first
    while True:
        try:
            await check.discord_get(token, "/users/@me", within=within)
            return
        except check.DiscordUnreachable as exc:
            log.warning("cannot reach Discord at %s (%s); retrying in %g s", Route.BASE, exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, cap)


async def connect_gateway(bot: discord.Client, *, first: float, cap: float) -> None:
    """``bot.connect()``, tried again while its first connection fails: discord.py 2.7
    retries a lost gateway itself, but stops with an AttributeError (``self.ws`` is None)
    when it never had one."""
    delay = first
    while True:
        try:
            await bot.connect()
            return
        except AttributeError as exc:
            if bot.ws is not None or bot.is_closed():
                raise
            cause = exc.__context__ or exc
            log.warning(
                "cannot reach Discord's gateway (%s); retrying in %g s",
                check.describe(cause),
                delay,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, cap)


class OneLineReconnects(logging.Filter):
    """discord.py logs each gateway reconnect with a traceback: keep one warning line
    instead, and none before the first connection (:func:`connect_gateway` says it)."""

    def __init__(self, bot: discord.Client) -> None:
        super().__init__()
        self.bot = bot

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.exc_info and str(record.msg).startswith("Attempting a reconnect")):
            return True
        if self.bot.ws is None:
            return False
        error = record.exc_info[1]
        record.msg = "lost Discord's gateway (%s); reconnecting in %.1f s"
        record.args = (check.describe(error) if error else "?", *(record.args or (0,)))
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


async def check_key(settings: Settings) -> None:
    """The ``check`` probe of the Max API key, logged: a warning, not a stop, when refused."""
    result = await check.check_maxapi(settings)
    if result.ok:
        log.info("Max API: %s", result.message)
    else:
        log.warning("Max API: %s (jobs fail until this is fixed)", result.message)


# -- check -----------------------------------------------------------------------------------


def check_command() -> int:
    env = read_env()
    logs.configure("WARNING", secrets=(env.get("DISCORD_TOKEN", ""), env.get("MAXAPI_KEY", "")))
    dotenv = Path.cwd() / ".env"
    results = asyncio.run(check.run_checks(env, no_dotenv=None if dotenv.is_file() else dotenv))
    for result in results:
        print(result.line(), flush=True)
    return 0 if all(result.ok for result in results) else 1


# -- simulate --------------------------------------------------------------------------------


def simulate(argv: Sequence[str]) -> int:
    """``python -m simulator``'s own command line, or a hint when Pillow is missing."""
    try:
        from simulator.__main__ import main as simulator_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "PIL":
            raise
        print(PILLOW_HINT, file=sys.stderr)
        return 0 if {"-h", "--help"} & set(argv) else EXIT_CONFIG
    return simulator_main(argv, prog="python -m bot simulate")
