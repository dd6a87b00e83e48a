"""``python -m bot check``: what an operator can get wrong, checked without the gateway.

Each check is one line (✓/✗, what was found, what to do) and changes nothing; the bot's
start-up reuses the Discord and Max API probes."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import platform
import secrets
import socket
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import discord
from aiohttp import web
from discord.http import Route

from bot import USER_AGENT, maxapi
from bot.domain.addresses import is_public
from bot.domain.catalog import Catalog, CatalogError
from bot.settings import Settings, SettingsError
from bot.store import StoreUnavailable, migration_state

#: The permissions the README's invite asks for (View Channel, Send Messages, Embed Links,
#: Attach Files, Read Message History, Use Application Commands): 2147601408.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    use_application_commands=True,
)
PROBE_TASK_ID = "atelier-check-probe"
"""A task id that cannot exist: Max API answers "not found" to a key it accepts."""
TIMEOUT = 15.0  # seconds for each network check
#: What each check needs from the settings: it is skipped while one of them is wrong.
NEEDS: dict[str, tuple[str, ...]] = {
    "catalogue": ("CATALOG_PATH",),
    "database": ("DATABASE_PATH", "DATABASE_URL"),
    "shards": ("SHARD_COUNT", "SHARD_IDS"),
    "Discord": ("DISCORD_TOKEN", "DISCORD_API_BASE_URL"),
    "Max API": ("MAXAPI_KEY", "MAXAPI_BASE_URL"),
    "webhook": ("WEBHOOK_PUBLIC_URL", "WEBHOOK_LISTEN", "MAXAPI_BASE_URL"),
}


@dataclass(frozen=True, slots=True)
class Result:
    """One check: ``ok`` is None when it was skipped (a setting it needs is wrong)."""

    name: str
    ok: bool | None
    message: str

    def line(self) -> str:
        mark = {True: "✓", False: "✗", None: "–"}[self.ok]
        return f"{mark} {self.name}: {self.message}"


def passed(name: str, message: str) -> Result:
    return Result(name, True, message)


def failed(name: str, message: str) -> Result:
    return Result(name, False, message)


# -- settings and files ------------------------------------------------------------------


def check_settings(env: Mapping[str, str]) -> tuple[list[Result], Settings | None, set[str]]:
    """Every setting's problem on its own line, settings good enough for the other checks
    (the wrong ones left at their defaults), and the names that were wrong."""
    try:
        return [passed("settings", "every setting is valid")], Settings.from_env(env), set()
    except SettingsError as exc:
        bad = {name for name, _ in exc.problems}
        results = [failed(name, problem) for name, problem in exc.problems]
    usable = None
    for _ in range(3):  # leaving one setting out can make another one wrong
        trial = {k: v for k, v in env.items() if k not in bad}
        trial |= {name: "unset" for name in ("DISCORD_TOKEN", "MAXAPI_KEY") if name in bad}
        try:
            usable = Settings.from_env(trial)
            break
        except SettingsError as again:
            bad |= {name for name, _ in again.problems}
    return results, usable, bad


def check_catalogue(settings: Settings) -> Result:
    try:
        catalog = Catalog.load(settings.catalog_path)
    except CatalogError as exc:
        return failed("catalogue", str(exc))
    source = f"built-in and {settings.catalog_path}" if settings.catalog_path else "built-in"
    return passed("catalogue", f"{len(catalog)} models ({source})")


def check_postgres(settings: Settings) -> Result:
    """``DATABASE_URL`` is set: reachable, and its migrations known to this version (never
    changed here); no line shows the password."""
    from bot.store.postgres import postgres_migration_state

    assert settings.database_url is not None
    label = settings.database_label
    try:
        newer, pending = postgres_migration_state(settings.database_url.get())
    except StoreUnavailable as exc:
        return failed("database", f"{exc}; check DATABASE_URL and that the server is running")
    if newer:
        return failed(
            "database",
            f"{label} was migrated by a newer Atelier ({sorted(newer)[0]}); run that version",
        )
    if pending:
        return passed("database", f"{label} is reachable; {pending} migration(s) apply at start")
    return passed("database", f"{label} is reachable and its migrations are current")


def check_shards(settings: Settings) -> Result:
    return passed("shards", settings.shard_label)


def check_database(path: Path) -> Result:
    """Writable, a database, and its migrations known to this version (never created)."""
    if not path.exists():
        folder = next((p for p in path.parents if p.exists()), Path("."))
        if not _can_write(folder):
            return failed(
                "database",
                f"cannot create {path}: {folder.absolute()} is not writable by this user; "
                "make it writable or point DATABASE_PATH at a folder that is",
            )
        return passed("database", f"{path} does not exist yet; the bot creates it when it starts")
    fix = "point DATABASE_PATH at the bot's database or a new file"
    if not os.access(path, os.R_OK | os.W_OK) or not _can_write(path.parent):
        return failed(
            "database",
            f"{path} or its folder is not writable by this user (SQLite writes files beside "
            "it); fix the owner or mode, or " + fix,
        )
    try:
        newer, pending = migration_state(path)
    except StoreUnavailable as exc:
        return failed("database", f"{exc}; {fix}")
    unknown = sorted(newer)
    if unknown:
        return failed(
            "database",
            f"{path} was migrated by a newer Atelier ({unknown[0]}); run that version or "
            "restore a backup made before the upgrade",
        )
    if pending:
        return passed(
            "database",
            f"{path} is writable; {pending} migration(s) apply when the bot starts "
            "(copy the file first to keep a backup)",
        )
    return passed("database", f"{path} is writable and its migrations are current")


def _can_write(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried for real, then removed)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


# -- Discord -------------------------------------------------------------------------------


class DiscordUnreachable(Exception):
    """No answer from Discord's API (network, DNS, timeout, 5xx or 429); ``str()`` says which."""


class TokenRefused(Exception):
    """Discord answered 401: the bot token is wrong or was reset."""


class DiscordRefused(Exception):
    """Discord answered a 4xx other than 401 and 429 (403 Missing Access, say)."""


def discord_user_agent() -> str:
    """The User-Agent discord.py itself sends (Discord expects the ``DiscordBot`` form)."""
    return (
        f"DiscordBot (https://github.com/Rapptz/discord.py {discord.__version__}) "
        f"Python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
    )


async def discord_get(
    token: str, *paths: str, within: float = TIMEOUT, base: str | None = None
) -> list[Any]:
    """GET each API path (``/users/@me`` …) with the bot token from ``base`` (default:
    discord.py's ``Route.BASE``); the JSON answers, in order."""
    base = base or Route.BASE
    headers = {"Authorization": f"Bot {token}", "User-Agent": discord_user_agent()}
    answers: list[Any] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as http:
            for path in paths:
                async with http.get(f"{base}{path}", headers=headers) as resp:
                    if resp.status == 401:
                        raise TokenRefused("Discord refused the token (HTTP 401)")
                    if resp.status == 429 or resp.status >= 500:
                        raise DiscordUnreachable(f"Discord answered HTTP {resp.status}")
                    if resp.status != 200:
                        raise DiscordRefused(f"HTTP {resp.status}: {(await resp.text())[:200]}")
                    answers.append(await resp.json())
    except TimeoutError as exc:
        raise DiscordUnreachable(f"no answer within {within:g} s") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise DiscordUnreachable(describe(exc)) from exc
    except ValueError as exc:  # a token holding characters a header cannot carry
        raise TokenRefused(f"the token is not one Discord could accept ({exc})") from exc
    return answers


def describe(exc: BaseException) -> str:
    """A network error as one short line, without a traceback."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        why = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror
        return f"{exc.host}:{exc.port}: {why}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def invite_url(application_id: int) -> str:
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot%20applications.commands&permissions={INVITE_PERMISSIONS.value}"
    )


async def check_discord(settings: Settings) -> list[Result]:
    """The token (``GET /users/@me``), the invite URL of its application, and whether
    commands can be synced to ``DEV_GUILD_ID``."""
    token = settings.discord_token.get()
    base = settings.discord_api_base_url or Route.BASE
    via = f" (through the proxy {base})" if settings.discord_api_base_url else ""
    try:
        me, app = await discord_get(token, "/users/@me", "/oauth2/applications/@me", base=base)
    except TokenRefused:
        return [
            failed(
                "Discord",
                "DISCORD_TOKEN was refused; reset it in the Developer Portal (Bot → Reset "
                "Token) and put the new one in .env",
            )
        ]
    except (DiscordUnreachable, DiscordRefused) as exc:
        fix = "DISCORD_API_BASE_URL and the proxy" if via else "the network"
        return [failed("Discord", f"cannot reach {base} ({exc}); check {fix}")]
    name = me.get("username", "?")
    results = [passed("Discord", f"the token logs in as {name} (id {me.get('id')}){via}")]
    app_id = int(app.get("id") or me.get("id"))
    results.append(passed("invite", invite_url(app_id)))
    if settings.dev_guild_id is not None:
        guild_id = settings.dev_guild_id
        results.append(await check_dev_guild(token, app_id, guild_id, base=base))
    return results


async def check_dev_guild(token: str, app_id: int, guild_id: int, *, base: str) -> Result:
    """Whether the bot may sync its commands to ``DEV_GUILD_ID`` (it reads them there)."""
    try:
        await discord_get(token, f"/applications/{app_id}/guilds/{guild_id}/commands", base=base)
    except DiscordRefused:
        return failed(
            "DEV_GUILD_ID",
            f"the bot cannot add commands to server {guild_id}: invite it there with the "
            "URL above (scope applications.commands), or fix or unset DEV_GUILD_ID",
        )
    except (DiscordUnreachable, TokenRefused) as exc:
        return failed("DEV_GUILD_ID", f"could not ask Discord ({exc}); try again")
    return passed("DEV_GUILD_ID", f"commands sync to server {guild_id} at once")


# -- Max API -------------------------------------------------------------------------------


async def check_maxapi(settings: Settings, *, within: float = TIMEOUT) -> Result:
    """Ask Max API for a task that cannot exist: "not found" means the key is accepted."""
    base = settings.maxapi_base_url
    async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as http:
        api = maxapi.MaxApiClient(http, base, settings.maxapi_key, timeout=within, retries=0)
        try:
            await api.get(PROBE_TASK_ID)
        except maxapi.TaskNotFound:
            pass
        except maxapi.Unauthorized:
            return failed(
                "Max API",
                f"{base} refused MAXAPI_KEY; copy the key from the Max API dashboard into .env",
            )
        except maxapi.NetworkError as exc:
            return failed("Max API", f"cannot reach {base} ({exc}); check MAXAPI_BASE_URL")
        except maxapi.MaxApiError as exc:
            return failed(
                "Max API",
                f"{base} did not say whether it accepts the key ({exc}); check "
                "MAXAPI_BASE_URL, or try again later",
            )
    return passed("Max API", f"{base} accepted the key")


# -- webhook -------------------------------------------------------------------------------


async def check_webhook(settings: Settings, *, within: float = TIMEOUT) -> Result:
    """A public https URL (resolved) that reaches ``WEBHOOK_LISTEN``: a probe listener
    there answers a random word, which must come back through the public URL."""
    url = settings.webhook_public_url
    if url is None:
        return passed("webhook", "WEBHOOK_PUBLIC_URL is not set: jobs are followed by polling")
    listen = f"{settings.webhook_host}:{settings.webhook_port}"
    host = urlsplit(url).hostname or ""
    if not _is_loopback_url(settings.maxapi_base_url):  # the simulator calls back on loopback
        private = await _private_addresses(host)
        if private is None:
            return failed("webhook", f"{host} does not resolve; fix its DNS or WEBHOOK_PUBLIC_URL")
        if private:
            return failed(
                "webhook",
                f"{host} resolves to {private[0]}, which Max API cannot reach; use your "
                "https proxy's public name",
            )
    word = secrets.token_urlsafe(16)
    token = secrets.token_urlsafe(24)

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=word)

    app = web.Application()
    app.router.add_post(f"{urlsplit(url).path.rstrip('/')}/{token}", answer)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    in_use = False
    try:
        try:
            await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
        except OSError:
            in_use = True  # the running bot, probably: its receiver answers "ok"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as http,
            http.post(f"{url}/{token}", json={}, allow_redirects=False) as resp,
        ):
            body = (await resp.text())[:100]
            status = resp.status
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return failed(
            "webhook",
            f"cannot reach {url} ({describe(exc)}); check DNS, "
            f"the https proxy and that it forwards to WEBHOOK_LISTEN {listen}",
        )
    finally:
        await runner.cleanup()
    if body == word:
        return passed("webhook", f"{url} reaches WEBHOOK_LISTEN {listen}")
    if in_use and status == 200:
        return passed(
            "webhook", f"{url} answers; {listen} is in use (by the running bot, it seems)"
        )
    return failed(
        "webhook",
        f"{url} answered HTTP {status}, but not from WEBHOOK_LISTEN {listen}; point your "
        "https proxy at it",
    )


def _is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _private_addresses(host: str) -> list[str] | None:
    """The addresses of ``host`` that are not public, or None when it does not resolve."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except OSError:
        return None
    addresses = {str(info[4][0]) for info in infos}
    return sorted(a for a in addresses if not is_public(a))


# -- all of them ---------------------------------------------------------------------------


async def run_checks(env: Mapping[str, str], *, no_dotenv: Path | None = None) -> list[Result]:
    """Every check, in the order they are printed; ``no_dotenv``: the ``.env`` looked for
    and not found (named when a setting is wrong)."""
    results, settings, bad = check_settings(env)
    if bad and no_dotenv is not None:
        results.insert(0, failed(".env", f"no {no_dotenv}; copy .env.example there and fill it in"))
    if settings is None:
        return results

    ready = settings  # for the closures (mypy does not narrow inside them)

    async def unless_wrong(name: str, run: Callable[[], Awaitable[list[Result]]]) -> list[Result]:
        wrong = [n for n in NEEDS[name] if n in bad]
        if wrong:
            return [Result(name, None, f"not checked until {wrong[0]} is fixed")]
        return await run()

    async def catalogue() -> list[Result]:
        return [await asyncio.to_thread(check_catalogue, ready)]

    async def database() -> list[Result]:
        if ready.database_url is not None:
            return [check_postgres(ready)]
        return [await asyncio.to_thread(check_database, ready.database_path)]

    async def shards() -> list[Result]:  # a line only for an operator who shards
        return [] if ready.shard_count is None else [check_shards(ready)]

    async def max_api() -> list[Result]:
        return [await check_maxapi(ready)]

    async def webhook() -> list[Result]:
        return [await check_webhook(ready)]

    found = await asyncio.gather(
        unless_wrong("catalogue", catalogue),
        unless_wrong("database", database),
        unless_wrong("shards", shards),
        unless_wrong("Discord", lambda: check_discord(ready)),
        unless_wrong("Max API", max_api),
        unless_wrong("webhook", webhook),
    )
    return results + [result for group in found for result in group]
