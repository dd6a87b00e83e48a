"""A SQLite database copied into PostgreSQL: every row read back equal through the store,
ids continue above the copied ones, a second run and a running bot are refused, a failure
undoes everything, and the SQLite file is never changed."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from bot.domain.job_states import JobState
from bot.domain.quota import Charge, Limits
from bot.store import Store, migrations
from bot.store.transfer import (
    CACHES,
    SKIPPED,
    TABLES,
    TransferFailed,
    TransferRefused,
    copy_sqlite,
)
from tests.helpers.postgres import PostgresServer
from tests.helpers.store import job_values

S = JobState
DAY, MONTH = "2026-11-23", "2026-11"
GUILDS = (1, 7)
USERS = (3, 4)
#: An hour ago, with a fraction that a lossy copy would change.
BASE = time.time() - 3600 + 0.123456789
LEASE = 30.0


def stepping_clock() -> Callable[[], float]:
    """A clock an hour behind that moves a little on every read (distinct, odd times)."""
    ticks = itertools.count()
    return lambda: BASE + next(ticks) * 0.731


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def reserve(store: Store, **values: Any) -> int:
    charge = Charge(values.pop("images", 1), values.pop("videos", 0), values.pop("usd", 0.04))
    job = await store.create_job_with_charge(
        job_values(**values), charge, (DAY, MONTH), lambda _: None
    )
    return job.id


async def fill(store: Store) -> None:
    """Jobs in several states with their charges and events, and every guild row."""
    delivered = await reserve(store, interaction_id=101, locale="zh-CN", prompt="一只狐狸 %s ?")
    await store.transition(delivered, S.ACCEPTED, S.SUBMITTING, "submit", owner="old-run")
    await store.transition(delivered, S.SUBMITTING, S.RUNNING, "ok", task_id="t-1")
    await store.transition(
        delivered,
        S.RUNNING,
        S.SUCCEEDED,
        "upstream SUCCESS",
        result_kind="image",
        result_urls=["https://cdn.example/a.png"],
        result_expires_at=BASE + 7 * 86400,
    )
    await store.transition(delivered, S.SUCCEEDED, S.DELIVERING, "post")
    await store.transition(
        delivered, S.DELIVERING, S.DELIVERED, "posted", result_message_ids=[11, 12]
    )
    reroll = await reserve(store, parent_job_id=delivered, action="reroll", user_id=4)
    await store.transition(reroll, S.ACCEPTED, S.SUBMITTING, "submit")
    await store.transition(reroll, S.SUBMITTING, S.QUEUED, "ok", task_id="t-2")
    await store.increment(reroll, "polls", 3, next_poll_at=BASE + 5)
    await store.claim_due_polls(BASE + 10, 10, BASE + 70)  # a claim left by the old run
    failed = await reserve(store, guild_id=7, media="video", images=0, videos=1, usd=1.25)
    await store.transition(failed, S.ACCEPTED, S.SUBMITTING, "submit")
    await store.transition(
        failed,
        S.SUBMITTING,
        S.FAILED,
        "upstream FAILURE",
        failure_message="Max API refused the request: {message}. You were not charged.",
        failure_fields={"message": "bad ratio"},
    )
    await reserve(store, interaction_id=104, age_restricted=True, owner="old-run")  # accepted
    await store.create_job(job_values(guild_id=None, channel_id=9))  # a DM, no charge
    await store.update_guild_config(1, allowed_models={"veo3"}, banned_words=("x", "/y+/"))
    await store.update_guild_config(7, daily_budget_usd=None, audit_channel_id=55)
    await store.set_limits(1, "guild", 0, Limits(images_per_day=10, spend_per_day_usd=2.5))
    await store.set_limits(1, "role", 9, Limits(jobs_at_once=1, cooldown_seconds=30))
    await store.set_limits(7, "user", 4, Limits(videos_per_day=0))
    await store.block(1, 4, "spam", BASE + 86400, 2)
    await store.block(7, 3, None, None, None)
    await store.add_audit(1, 2, "limits set", "role:9", {"jobs_at_once": 1})
    await store.add_audit(7, 2, "block", "user:3", {"reason": "没有"})
    await store.add_audit(None, None, "refused", None, None)
    await store.set_state("commands", "digest-1")
    await store.set_guild_facts(7, {"upload_limit": 26214400})
    await store.heartbeat("old-run", "no sharding", LEASE)  # an hour old: not running


async def reads(store: Store) -> dict[str, Any]:
    """What the bot reads back, through the store's normal reads."""
    seen: dict[str, Any] = {"by state": await store.count_by_state()}
    for job_id in range(1, 6):
        seen[f"job {job_id}"] = await store.get(job_id)
        seen[f"events {job_id}"] = await store.events(job_id)
    for guild in GUILDS:
        seen[f"config {guild}"] = await store.guild_config(guild)
        seen[f"limits {guild}"] = await store.all_limits(guild)
        seen[f"audit {guild}"] = await store.audit_entries(guild)
        seen[f"charges {guild}"] = await store.charges_in(guild, DAY, DAY)
        seen[f"jobs {guild}"] = await store.for_guild(guild)
        seen[f"facts {guild}"] = await store.guild_facts(guild)
        for user in USERS:
            seen[f"usage {guild} {user}"] = await store.usage(guild, user, DAY, MONTH)
            seen[f"block {guild} {user}"] = await store.active_block(guild, user, BASE)
    seen["dm jobs"] = await store.for_guild(None)
    seen["operator"] = await store.operator_spend((BASE - 86400, BASE - 86400 * 30))
    seen["state"] = await store.get_state("commands")
    return seen


async def dump(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every copied table, row by row, in key order."""

    def read() -> dict[str, list[dict[str, Any]]]:
        tables = {}
        for table in TABLES:
            rows = store._dicts(f"SELECT * FROM {table}")
            tables[table] = sorted(rows, key=lambda row: repr(sorted(row.items())))
        return tables

    return await store.run(read)


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[Path]:
    """A filled SQLite database, closed (as after the bot was stopped)."""
    path = tmp_path / "lite" / "atelier.db"
    store = await Store.open(path, clock=stepping_clock())
    await fill(store)
    await store.close()
    yield path


@pytest.fixture
async def pg(postgres_server: PostgresServer) -> AsyncIterator[Store]:
    store = await Store.open(postgres_server.new_database())
    yield store
    await store.close()


async def test_every_row_reads_back_equal_and_ids_continue(lite: Path, pg: Store) -> None:
    before = digest(lite)
    counts = await copy_sqlite(pg, lite, alive_within=LEASE)
    assert digest(lite) == before  # the SQLite file was only read
    assert list(counts) == list(TABLES)
    assert counts["jobs"] == 5 and counts["charges"] == 4 and counts["audit"] == 3
    assert counts["limits"] == 3 and counts["blocks"] == 2 and counts["bot_state"] == 1
    source = await Store.open(lite, clock=stepping_clock())
    try:
        assert await reads(pg) == await reads(source)
        assert await dump(pg) == await dump(source)
    finally:
        await source.close()
    assert (await pg.get(2)).poll_claimed_until is not None  # type: ignore[union-attr]
    # Nothing about the old run's processes comes along.
    assert await pg.heartbeat("new-run", None, LEASE) == 1
    # New rows get ids above the copied ones.
    job = await pg.create_job(job_values())
    assert job.id == 6
    assert await pg.add_audit(1, 2, "settings", None, None) == 4
    events = await pg.run(lambda: pg._dicts("SELECT MAX(id) AS top FROM job_events"))
    assert events[0]["top"] == counts["job_events"] + 1


async def test_a_second_run_is_refused_and_changes_nothing(lite: Path, pg: Store) -> None:
    await copy_sqlite(pg, lite, alive_within=LEASE)
    copied = await dump(pg)
    with pytest.raises(TransferRefused, match=r"already holds jobs.*never runs twice") as refused:
        await copy_sqlite(pg, lite, alive_within=LEASE)
    assert not isinstance(refused.value, TransferFailed)
    assert await dump(pg) == copied


async def test_rows_a_bot_on_postgresql_wrote_for_itself_are_kept(lite: Path, pg: Store) -> None:
    await pg.set_state("commands", "digest-from-postgres")
    await pg.set_state("other", "kept")
    counts = await copy_sqlite(pg, lite, alive_within=LEASE)
    assert counts["bot_state"] == 0 and counts["guild_facts"] == 1
    assert await pg.get_state("commands") == "digest-from-postgres"
    assert await pg.get_state("other") == "kept"
    assert set(CACHES) == {"bot_state", "guild_facts"}


async def test_a_running_bot_is_refused(tmp_path: Path, pg: Store) -> None:
    path = tmp_path / "atelier.db"
    store = await Store.open(path)
    await store.create_job(job_values())
    await store.heartbeat("live-run", None, LEASE)  # now
    await store.close()
    before = digest(path)
    with pytest.raises(TransferRefused, match=r"a bot is using .*stop it first"):
        await copy_sqlite(pg, path, alive_within=LEASE)
    assert digest(path) == before
    assert await pg.count_by_state() == {}


async def test_a_failure_undoes_the_whole_copy(tmp_path: Path, pg: Store) -> None:
    path = tmp_path / "atelier.db"
    store = await Store.open(path, clock=stepping_clock())
    await fill(store)
    await store.add_audit(1, 2, "words", "nul\x00byte")  # PostgreSQL text cannot hold NUL
    await store.close()
    with pytest.raises(TransferFailed, match=r"^copying audit failed \(.*NUL.*\); nothing"):
        await copy_sqlite(pg, path, alive_within=LEASE)
    assert all(rows == [] for table, rows in (await dump(pg)).items())
    assert (await pg.create_job(job_values())).id == 1


async def test_an_older_schema_is_migrated_in_a_copy_only(tmp_path: Path, pg: Store) -> None:
    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="m010_failure_fields")
    old.execute(
        "INSERT INTO jobs (id, guild_id, channel_id, user_id, media, model, prompt, input, "
        "price_usd, state, created_at, updated_at, failure_message) VALUES (4, 7, 2, 3, "
        "'image', 'nano-banana', 'old', '{}', 0.04, 'failed', 1.5, 2.5, 'Max API refused the "
        "request: too long. You were not charged.')"
    )
    old.conn.commit()
    old.close()
    before = digest(path)
    counts = await copy_sqlite(pg, path, alive_within=LEASE)
    assert digest(path) == before
    assert counts["jobs"] == 1 and counts["bot_state"] == 0
    job = await pg.get(4)
    assert job is not None and job.state == S.FAILED and job.fence == 0
    assert job.failure_fields == {"message": "too long"}  # m010 ran on the copy
    conn = sqlite3.connect(path)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "processes" not in tables  # the original was not migrated


async def test_missing_or_foreign_files_are_refused(tmp_path: Path, pg: Store) -> None:
    with pytest.raises(TransferRefused, match=r"DATABASE_PATH: .*missing.db does not exist"):
        await copy_sqlite(pg, tmp_path / "missing.db", alive_within=LEASE)
    garbage = tmp_path / "notes.db"
    garbage.write_text("not a database at all, just some text that is long enough" * 20)
    with pytest.raises(TransferRefused, match=r"cannot read .*notes.db"):
        await copy_sqlite(pg, garbage, alive_within=LEASE)
    newer = tmp_path / "newer.db"
    store = await Store.open(newer)
    await store.close()
    db = Database(newer)
    db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('atelier', 'm999_future', '2030-01-01')"
    )
    db.conn.commit()
    db.close()
    with pytest.raises(TransferRefused, match="newer Atelier \\(m999_future\\)"):
        await copy_sqlite(pg, newer, alive_within=LEASE)


async def test_sqlite_is_not_a_target(lite: Path, tmp_path: Path) -> None:
    other = await Store.open(tmp_path / "other.db")
    try:
        with pytest.raises(TransferRefused, match="not PostgreSQL"):
            await copy_sqlite(other, lite, alive_within=LEASE)
    finally:
        await other.close()


async def test_every_table_is_copied_or_skipped_on_purpose(tmp_path: Path, pg: Store) -> None:
    """A table a later migration adds must be listed in TABLES or SKIPPED."""
    store = await Store.open(tmp_path / "fresh.db")
    sqlite_tables = await store.run(
        lambda: {
            row["name"]
            for row in store._dicts("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    )
    await store.close()
    pg_tables = await pg.run(
        lambda: {
            row["table_name"]
            for row in pg._dicts(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        }
    )
    assert sqlite_tables - {"_sqlite_migrations"} == set(TABLES) | set(SKIPPED)
    assert pg_tables - {"schema_migrations"} == set(TABLES) | set(SKIPPED)
