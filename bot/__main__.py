"""``python -m bot``: settings → services → bot → run until SIGTERM/SIGINT.

Start-up problems an operator can fix (a missing or malformed setting, a broken
catalogue override, a refused token) end the process with exit code 2 and one line
on stderr, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

import discord
from dotenv import load_dotenv

from bot import heap, logs
from bot.app import AtelierBot
from bot.catalog import Catalog, CatalogError
from bot.runtime import Runtime
from bot.settings import Settings, SettingsError

log = logging.getLogger("bot")

EXIT_CONFIG = 2


def load_configuration(env: dict[str, str] | None = None) -> tuple[Settings, Catalog]:
    """Read ``.env`` (without overriding the real environment) and build settings."""
    if env is None:
        # The .env of the folder the operator starts from (python-dotenv's default search
        # starts from this module's folder instead, which is wrong for an installed bot).
        load_dotenv(Path.cwd() / ".env", override=False)
        env = dict(os.environ)
    settings = Settings.from_env(env)
    return settings, Catalog.load(settings.catalog_path)


async def run(settings: Settings, catalog: Catalog) -> int:
    """Run the bot until a signal or a fatal error; return the exit code."""
    async with Runtime(settings, catalog) as runtime:
        bot = AtelierBot(runtime.services())
        bot.add_listener(heap.on_ready, "on_ready")  # short full GC passes from then on
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        runner = asyncio.create_task(bot.start(settings.discord_token.get()), name="discord")
        stopper = asyncio.create_task(stop.wait(), name="signals")
        try:
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                runner.result()  # re-raise a login failure
                return 0
            log.info("signal received; shutting down")
            return 0
        except discord.LoginFailure:
            print(
                "atelier: DISCORD_TOKEN was refused by Discord; reset it in the developer "
                "portal (Bot → Reset Token) and update .env",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        except discord.PrivilegedIntentsRequired:
            print(
                "atelier: Discord refused the gateway intents; Atelier needs none "
                "privileged — check the bot's settings",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        finally:
            stopper.cancel()
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner


def main() -> int:
    try:
        settings, catalog = load_configuration()
    except (SettingsError, CatalogError) as exc:
        print(f"atelier: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.configure(
        settings.log_level, secrets=(settings.discord_token.get(), settings.maxapi_key.get())
    )
    return asyncio.run(run(settings, catalog))


if __name__ == "__main__":
    sys.exit(main())
