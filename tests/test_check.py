"""``bot.check``: every check's ✓ and ✗, against the local Discord, the simulator, real
files and real listeners (``tests/test_cli.py`` runs ``python -m bot check`` whole)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from discord.http import Route

from bot import check
from bot.settings import Secret, Settings
from bot.store import Store, postgres
from simulator import Simulator, SimulatorConfig
from tests.discord_world import World
from tests.helpers.jobs import harness
from tests.helpers.postgres import PostgresServer

SIM_KEY = "sim-key"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(api_key=SIM_KEY)) as running:
        yield running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_settings(tmp_path: Path, **changes: object) -> Settings:
    base = Settings(
        discord_token=Secret("test-token"),
        maxapi_key=Secret(SIM_KEY),
        database_path=tmp_path / "atelier.db",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_invite_asks_for_the_readme_permissions() -> None:
    assert check.INVITE_PERMISSIONS.value == 2147601408
    url = check.invite_url(42)
    assert url == (
        "https://discord.com/oauth2/authorize?client_id=42"
        "&scope=bot%20applications.commands&permissions=2147601408"
    )


def test_result_lines_carry_a_mark() -> None:
    assert check.passed("x", "fine").line() == "✓ x: fine"
    assert check.failed("x", "broken; fix it").line() == "✗ x: broken; fix it"
    assert check.Result("x", None, "later").line() == "– x: later"


# -- settings ------------------------------------------------------------------------------


def test_every_wrong_setting_is_its_own_line_and_the_rest_still_checks() -> None:
    env = {"MAXAPI_KEY": "k", "POLL_SCALE": "nope", "LOG_LEVEL": "LOUD"}
    results, settings, bad = check.check_settings(env)
    assert [(r.name, r.ok) for r in results] == [
        ("DISCORD_TOKEN", False),
        ("POLL_SCALE", False),
        ("LOG_LEVEL", False),
    ]
    assert "Reset Token" in results[0].message
    assert bad == {"DISCORD_TOKEN", "POLL_SCALE", "LOG_LEVEL"}
    assert settings is not None and settings.maxapi_key == Secret("k")


async def test_checks_that_need_a_wrong_setting_are_skipped(tmp_path: Path) -> None:
    results = await check.run_checks(
        {"DATABASE_PATH": str(tmp_path / "a.db"), "MAXAPI_BASE_URL": "ftp://x"},
        no_dotenv=tmp_path / ".env",
    )
    lines = [r.line() for r in results]
    assert lines[0] == f"✗ .env: no {tmp_path / '.env'}; copy .env.example there and fill it in"
    skipped = {r.name: r.message for r in results if r.ok is None}
    assert skipped == {
        "Discord": "not checked until DISCORD_TOKEN is fixed",
        "Max API": "not checked until MAXAPI_KEY is fixed",
        "webhook": "not checked until MAXAPI_BASE_URL is fixed",
    }
    assert {r.name for r in results if r.ok} == {"catalogue", "database"}  # no shards line


async def test_check_names_the_database_and_the_shards_without_the_password(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens there: the server cannot be reached
    env = {
        "DATABASE_PATH": str(tmp_path / "a.db"),
        "DATABASE_URL": f"postgresql://atelier:hunter2-secret@127.0.0.1:{port}/atelier",
        "SHARD_COUNT": "4",
        "SHARD_IDS": "2,3",
        "MAXAPI_BASE_URL": "ftp://x",  # keeps the network checks from running
    }
    results = {r.name: r for r in await check.run_checks(env)}
    database, shards = results["database"], results["shards"]
    assert database.line().startswith(
        f"✗ database: cannot reach PostgreSQL at 127.0.0.1:{port}/atelier ("
    )
    assert database.line().endswith("check DATABASE_URL and that the server is running")
    assert not (tmp_path / "a.db").exists()
    assert shards.line() == "✓ shards: shards 2, 3 of 4"
    assert all("hunter2-secret" not in r.line() for r in results.values())


async def test_check_reads_a_postgresql_database_without_changing_it(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.new_database()
    env = {"DATABASE_URL": url, "MAXAPI_BASE_URL": "ftp://x"}
    [fresh] = [r for r in await check.run_checks(env) if r.name == "database"]
    expected = f"{len(postgres.MIGRATIONS)} migration(s) apply at start"
    assert fresh.ok and fresh.message.endswith(expected)
    await (await Store.open(url)).close()
    [current] = [r for r in await check.run_checks(env) if r.name == "database"]
    assert current.ok and current.message.endswith("reachable and its migrations are current")


async def test_a_wrong_database_url_or_shard_setting_skips_its_line(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": "mysql://atelier:hunter2-secret@db.example.com/atelier",
        "SHARD_IDS": "0",
        "MAXAPI_BASE_URL": "ftp://x",
    }
    results = await check.run_checks(env)
    lines = [r.line() for r in results]
    assert "– database: not checked until DATABASE_URL is fixed" in lines
    assert "– shards: not checked until SHARD_IDS is fixed" in lines
    assert any(line.startswith("✗ SHARD_IDS: set SHARD_COUNT too") for line in lines)
    assert all("hunter2-secret" not in line for line in lines)


async def test_shard_count_alone_is_every_shard(tmp_path: Path) -> None:
    env = {
        "DATABASE_PATH": str(tmp_path / "a.db"),
        "SHARD_COUNT": "3",
        "MAXAPI_BASE_URL": "ftp://x",
    }
    lines = [r.line() for r in await check.run_checks(env)]
    assert "✓ shards: every shard, 0 to 2, of 3" in lines


# -- catalogue -----------------------------------------------------------------------------


def test_catalogue(tmp_path: Path) -> None:
    good = check.check_catalogue(make_settings(tmp_path))
    assert good.ok and good.message.endswith("models (built-in)")
    broken = tmp_path / "catalog.json"
    broken.write_text("{not json")
    bad = check.check_catalogue(make_settings(tmp_path, catalog_path=broken))
    assert bad.ok is False and "catalog" in bad.message.lower()


# -- database ------------------------------------------------------------------------------


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "data" / "atelier.db"
    result = check.check_database(path)
    assert result.ok, result
    assert "creates it when it starts" in result.message
    assert not path.parent.exists()


async def test_a_current_database_passes_and_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "atelier.db"
    await (await Store.open(path)).close()
    before = listing(tmp_path)
    result = check.check_database(path)
    assert result.ok and "migrations are current" in result.message
    assert listing(tmp_path) == before  # no -wal or -shm left behind


async def test_pending_and_unknown_migrations(tmp_path: Path) -> None:
    path = tmp_path / "atelier.db"
    await (await Store.open(path)).close()
    with sqlite3.connect(path) as conn:
        last = conn.execute("SELECT max(id) FROM _sqlite_migrations").fetchone()[0]
        conn.execute("DELETE FROM _sqlite_migrations WHERE id = ?", [last])
    pending = check.check_database(path)
    assert pending.ok and "1 migration(s) apply when the bot starts" in pending.message
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
            "VALUES ('atelier', 'm999_from_the_future', 'now')"
        )
    newer = check.check_database(path)
    assert newer.ok is False
    assert "migrated by a newer Atelier (m999_from_the_future)" in newer.message


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database " * 100)
    result = check.check_database(path)
    assert result.ok is False and "file is not a database" in result.message


# -- Discord -------------------------------------------------------------------------------


async def test_discord_token_and_invite(world: World, tmp_path: Path) -> None:
    token, invite = await check.check_discord(make_settings(tmp_path))
    assert token.ok and f"logs in as {world.bot_user.username}" in token.message
    assert invite.ok and invite.message == check.invite_url(world.application_id)


async def test_dev_guild_the_bot_is_in_or_not(world: World, tmp_path: Path) -> None:
    *_, joined = await check.check_discord(make_settings(tmp_path, dev_guild_id=world.guild.id))
    assert joined.line() == f"✓ DEV_GUILD_ID: commands sync to server {world.guild.id} at once"
    *_, stranger = await check.check_discord(make_settings(tmp_path, dev_guild_id=12345))
    assert stranger.ok is False
    assert stranger.message.startswith("the bot cannot add commands to server 12345")


async def test_a_refused_discord_token(world: World, tmp_path: Path) -> None:
    [result] = await check.check_discord(make_settings(tmp_path, discord_token=Secret("nope")))
    assert result.ok is False and "DISCORD_TOKEN was refused" in result.message


async def test_discord_unreachable(world: World, tmp_path: Path) -> None:
    world.faults.next(route="GET /users/@me", drop=True, times=None)
    [result] = await check.check_discord(make_settings(tmp_path))
    assert result.ok is False and result.message.startswith("cannot reach ")
    assert "ServerDisconnectedError" in result.message


async def test_discord_through_the_api_proxy(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # discord.py's own base is dead: only DISCORD_API_BASE_URL can reach the world.
    monkeypatch.setattr(Route, "BASE", f"http://127.0.0.1:{free_port()}/api/v10")
    proxy = f"{world.http_base}/api/v10"
    settings = make_settings(tmp_path, discord_api_base_url=proxy, dev_guild_id=world.guild.id)
    token, _, guild = await check.check_discord(settings)
    assert token.ok and token.message.endswith(f"(through the proxy {proxy})")
    assert guild.ok, guild
    dead = f"http://127.0.0.1:{free_port()}/api/v10"
    [down] = await check.check_discord(make_settings(tmp_path, discord_api_base_url=dead))
    assert down.ok is False and down.message.startswith(f"cannot reach {dead} (")
    assert down.message.endswith("check DISCORD_API_BASE_URL and the proxy")


# -- Max API -------------------------------------------------------------------------------


async def test_max_api_key_accepted_and_refused(sim: Simulator, tmp_path: Path) -> None:
    good = await check.check_maxapi(make_settings(tmp_path, maxapi_base_url=sim.base_url))
    assert good.line() == f"✓ Max API: {sim.base_url} accepted the key"
    wrong = make_settings(tmp_path, maxapi_base_url=sim.base_url, maxapi_key=Secret("sk-x"))
    bad = await check.check_maxapi(wrong)
    assert bad.ok is False and "refused MAXAPI_KEY" in bad.message
    assert "sk-x" not in bad.message


async def test_max_api_unreachable_or_unclear(sim: Simulator, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    down = await check.check_maxapi(make_settings(tmp_path, maxapi_base_url=closed))
    assert down.ok is False and down.message.startswith(f"cannot reach {closed}")
    sim.faults.fail_next(1, status=500, endpoint="query")
    unclear = await check.check_maxapi(make_settings(tmp_path, maxapi_base_url=sim.base_url))
    assert unclear.ok is False and "did not say whether it accepts the key" in unclear.message


# -- webhook -------------------------------------------------------------------------------


def webhook_settings(tmp_path: Path, url: str, port: int, **more: object) -> Settings:
    return make_settings(
        tmp_path,
        webhook_public_url=url,
        webhook_host="127.0.0.1",
        webhook_port=port,
        maxapi_base_url=more.pop("maxapi_base_url", "http://127.0.0.1:8765"),  # the simulator
        **more,
    )


async def test_webhook_unset_passes(tmp_path: Path) -> None:
    result = await check.check_webhook(make_settings(tmp_path))
    assert result.ok and "polling" in result.message


async def test_webhook_reaching_the_listen_address(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/maxapi"
    result = await check.check_webhook(webhook_settings(tmp_path, url, port))
    assert result.line() == f"✓ webhook: {url} reaches WEBHOOK_LISTEN 127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def listening(port: int, path: str, text: str) -> AsyncIterator[None]:
    """A listener on 127.0.0.1:``port`` answering ``POST path`` with ``text``."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=text)

    app = web.Application()
    app.router.add_post(path, answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def test_webhook_reaching_something_else(tmp_path: Path) -> None:
    other = free_port()
    async with listening(other, "/elsewhere", "hello"):  # 404 for the callback path
        url = f"http://127.0.0.1:{other}/cb"
        result = await check.check_webhook(webhook_settings(tmp_path, url, free_port()))
    assert result.ok is False
    assert "answered HTTP 404, but not from WEBHOOK_LISTEN" in result.message


async def test_webhook_unreachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/cb"
    result = await check.check_webhook(webhook_settings(tmp_path, url, free_port()))
    assert result.ok is False and result.message.startswith(f"cannot reach {url}")
    assert "Connection refused" in result.message


async def test_webhook_on_a_private_address_for_the_real_max_api(tmp_path: Path) -> None:
    port = free_port()
    settings = webhook_settings(
        tmp_path,
        f"https://127.0.0.1:{port}/cb",
        port,
        maxapi_base_url="https://api.maxapi.io",
    )
    result = await check.check_webhook(settings)
    assert result.ok is False and "resolves to 127.0.0.1, which Max API cannot reach" in (
        result.message
    )


async def test_webhook_while_the_bot_holds_the_port(tmp_path: Path) -> None:
    port = free_port()
    async with listening(port, "/cb/{token}", "ok"):  # what the bot's receiver answers
        url = f"http://127.0.0.1:{port}/cb"
        result = await check.check_webhook(webhook_settings(tmp_path, url, port))
    assert result.ok and "in use (by the running bot, it seems)" in result.message


# -- the key at start-up and at the first refused submit -------------------------------------


async def test_start_up_warns_when_the_key_is_refused(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.cli import check_key

    caplog.set_level(logging.INFO, logger="bot")
    await check_key(make_settings(tmp_path, maxapi_base_url=sim.base_url))
    await check_key(make_settings(tmp_path, maxapi_base_url=sim.base_url, maxapi_key=Secret("x")))
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "bot"]
    assert said == [
        (logging.INFO, f"Max API: {sim.base_url} accepted the key"),
        (
            logging.WARNING,
            f"Max API: {sim.base_url} refused MAXAPI_KEY; copy the key from the Max API "
            "dashboard into .env (jobs fail until this is fixed)",
        ),
    ]


async def test_a_submit_refused_for_the_key_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.services.jobs")
    async with harness(tmp_path, api_key="sk-wrong") as h:
        await h.start_job("a fox")
    [refused] = [r for r in caplog.records if "submit refused" in r.getMessage()]
    assert refused.levelno == logging.WARNING
