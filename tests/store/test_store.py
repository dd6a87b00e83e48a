"""The store: migrations, compare-and-set transitions, the event log, poll claims."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from bot.domain.job import QUEUE_COUNT_CAP, Job
from bot.domain.job_states import TRANSITIONS, UPSTREAM, JobState, charge_after
from bot.domain.quota import Charge
from bot.store import Store, migrations
from tests.helpers.store import job_values

S = JobState

# Migrations are append-only: a released name is never renamed, removed or reordered.
RELEASED_MIGRATIONS = [
    "m001_jobs",
    "m002_limits_and_moderation",
    "m003_ending_told",
    "m004_spend_totals",
    "m005_guild_state_index",
    "m006_bookkeeping_triggers",
    "m007_transition_triggers",
    "m008_trust",
    "m009_rules_in_python",
    "m010_failure_fields",
    "m011_poll_claims",
]


def old_database(path: Path, stop_before: str) -> Database:
    """A database left at the release before ``stop_before``."""
    old = Database(path)
    migrations.apply(old, stop_before=stop_before)
    return old


def insert_old_job(
    old: Database, job_id: int, state: str, *, usd: float = 0.04, input_json: str = "{}"
) -> None:
    """A job row in the columns every release has had (guild 7, channel 2, user 3)."""
    old.execute(
        "INSERT INTO jobs (id, guild_id, channel_id, user_id, media, model, prompt, input, "
        "price_usd, state, created_at, updated_at) "
        "VALUES (?, 7, 2, 3, 'image', 'nano-banana', 'old', ?, ?, ?, 1.0, 1.0)",
        [job_id, input_json, usd, state],
    )


def test_migrations_are_append_only() -> None:
    names = [m.name for m in migrations._migrations]
    assert names[: len(RELEASED_MIGRATIONS)] == RELEASED_MIGRATIONS


async def test_fresh_database_gets_schema_wal_and_records_migrations(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    await store.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "job_events", "_sqlite_migrations"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert applied == [m.name for m in migrations._migrations]


@pytest.mark.parametrize("stop_before", RELEASED_MIGRATIONS[1:])
async def test_upgrade_from_every_earlier_schema_keeps_jobs(
    tmp_path: Path, stop_before: str
) -> None:
    """A database left at an earlier release upgrades in place at start-up."""
    path = tmp_path / "old.db"
    old = old_database(path, stop_before)
    insert_old_job(old, 1, "running", input_json='{"prompt": "old"}')
    old.conn.commit()
    old.close()
    store = await Store.open(path)
    job = await store.get(1)
    config = await store.guild_config(1)
    await store.close()
    assert job is not None and job.state == S.RUNNING and job.input == {"prompt": "old"}
    assert config.daily_budget_usd == 20.0


async def test_the_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It holds private prompts and interaction tokens: 0600, and its WAL too."""
    store = await Store.open(tmp_path / "data" / "a.db")
    await store.create_job(job_values())
    for name in ("a.db", "a.db-wal"):
        assert (tmp_path / "data" / name).stat().st_mode & 0o777 == 0o600, name
    await store.close()
    loose = tmp_path / "loose.db"
    loose.touch(mode=0o644)
    loose.chmod(0o644)
    await (await Store.open(loose)).close()
    assert loose.stat().st_mode & 0o777 == 0o600


async def test_expired_interaction_tokens_are_cleared(store: Store) -> None:
    now = store.clock()
    old = await store.create_job(
        job_values(interaction_token="old-token", interaction_expires_at=now - 1)
    )
    live = await store.create_job(
        job_values(interaction_token="live-token", interaction_expires_at=now + 600)
    )
    assert await store.forget_expired_tokens(now) == 1
    cleared, kept = await store.get(old.id), await store.get(live.id)
    assert cleared is not None and cleared.interaction_token is None
    assert kept is not None and kept.interaction_token == "live-token"
    assert await store.forget_expired_tokens(now) == 0


async def test_reopening_keeps_data_and_applies_nothing_twice(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    job = await store.create_job(job_values())
    await store.close()
    store = await Store.open(tmp_path / "a.db")
    again = await store.get(job.id)
    await store.close()
    assert again == job


async def test_create_records_accepted_with_json_round_trip(store: Store) -> None:
    job = await store.create_job(job_values(image_urls=["https://x/1.png"]))
    assert job.state == S.ACCEPTED
    assert job.input == {"prompt": "a fox", "ratio": "16:9"}
    assert job.image_urls == ["https://x/1.png"]
    events = await store.events(job.id)
    assert [(e.from_state, e.to_state) for e in events] == [(None, "accepted")]


async def test_transition_is_compare_and_set(store: Store) -> None:
    job = await store.create_job(job_values())
    moved = await store.transition(job.id, S.ACCEPTED, S.SUBMITTING, "submit")
    assert moved is not None and moved.state == S.SUBMITTING
    assert await store.transition(job.id, S.ACCEPTED, S.SUBMITTING, "again") is None
    done = await store.transition(job.id, S.SUBMITTING, S.QUEUED, "ok", task_id="t-1")
    assert done is not None and done.task_id == "t-1"
    assert await store.by_task_id("t-1") == done
    reasons = [e.reason for e in await store.events(job.id)]
    assert reasons == ["accepted", "submit", "ok"]


async def test_forbidden_move_is_a_bug_not_a_race(store: Store) -> None:
    job = await store.create_job(job_values())
    with pytest.raises(ValueError):
        await store.transition(job.id, S.ACCEPTED, S.DELIVERED, "nope")
    with pytest.raises(ValueError):
        await store.update(job.id, state=S.DELIVERED)
    with pytest.raises(KeyError):
        await store.update(job.id, no_such_column=1)


async def test_only_one_of_many_racing_transitions_wins(store: Store) -> None:
    job = await store.create_job(job_values())
    await store.transition(job.id, S.ACCEPTED, S.SUBMITTING, "submit")
    await store.transition(job.id, S.SUBMITTING, S.RUNNING, "ok", task_id="t")
    results = await asyncio.gather(
        *[store.transition(job.id, S.RUNNING, S.SUCCEEDED, f"racer {i}") for i in range(20)]
    )
    assert sum(r is not None for r in results) == 1
    events = await store.events(job.id)
    assert [e.to_state for e in events].count("succeeded") == 1


async def test_a_move_from_one_of_several_states_records_where_it_came_from(
    store: Store,
) -> None:
    job = await store.create_job(job_values())
    await store.transition(job.id, S.ACCEPTED, S.SUBMITTING, "submit")
    moved = await store.transition(job.id, [S.QUEUED, S.SUBMITTING], S.RUNNING, "running")
    assert moved is not None
    last = (await store.events(job.id))[-1]
    assert (last.from_state, last.to_state, last.reason) == ("submitting", "running", "running")
    assert last.at == moved.updated_at


async def charge_row(store: Store, job_id: int) -> tuple[str, float, float]:
    """The job's charge state, and the running spend of 2026-11-23 and 2026-11."""

    def read() -> tuple[str, float, float]:
        sql = "SELECT state FROM charges WHERE job_id = ?"
        (state,) = store.db.execute(sql, [job_id]).fetchone()
        sql = "SELECT period, SUM(usd) FROM spend_totals GROUP BY 1"
        totals = dict(store.db.execute(sql).fetchall())
        return state, totals.get("d:2026-11-23", 0.0), totals.get("m:2026-11", 0.0)

    return await store.run(read)


async def force_state(store: Store, job_id: int, state: JobState) -> None:
    """Put a job in ``state`` behind the state machine's back (to test every move)."""
    sql = "UPDATE jobs SET state = ? WHERE id = ?"
    await store.run(lambda: store.db.execute(sql, [state.value, job_id]))


async def test_every_allowed_move_settles_or_refunds_as_the_rules_say(store: Store) -> None:
    """For every move the state machine allows, the charge ends where
    ``job_states.charge_after`` says, and a refund leaves the guild's running spend."""
    moves = [(before, after) for before, targets in TRANSITIONS.items() for after in targets]
    expected, got = {}, {}
    for before, after in moves:
        job = await store.create_job_with_charge(
            job_values(), Charge(1, 0, 0.5), ("2026-11-23", "2026-11"), lambda _: None
        )
        await force_state(store, job.id, before)
        _, day_before, month_before = await charge_row(store, job.id)
        assert await store.transition(job.id, before, after, "move") is not None
        state, day, month = await charge_row(store, job.id)
        back = 0.5 if state == "refunded" else 0.0
        assert (day, month) == pytest.approx((day_before - back, month_before - back))
        got[before, after] = state
        expected[before, after] = charge_after(before, after) or "reserved"
    assert len(moves) > 20 and got == expected
    assert set(got.values()) == {"settled", "refunded", "reserved"}


async def test_a_kept_charge_is_settled_where_the_move_would_refund(store: Store) -> None:
    job = await store.create_job_with_charge(
        job_values(), Charge(1, 0, 0.5), ("2026-11-23", "2026-11"), lambda _: None
    )
    await store.transition(job.id, S.ACCEPTED, S.SUBMITTING, "submit")
    await store.transition(job.id, S.SUBMITTING, S.RUNNING, "ok", task_id="t")
    done = await store.transition(job.id, UPSTREAM, S.CANCELLED, "billed", keep_charge=True)
    assert done is not None
    assert await charge_row(store, job.id) == ("settled", pytest.approx(0.5), pytest.approx(0.5))


async def test_a_refused_reservation_leaves_nothing_behind(store: Store) -> None:
    """The gate raises inside the transaction: no job, event, charge or spend remains."""

    def refuse(_: object) -> None:
        raise ValueError("over the limit")

    with pytest.raises(ValueError):
        await store.create_job_with_charge(
            job_values(), Charge(1, 0, 0.5), ("2026-11-23", "2026-11"), refuse
        )
    assert await store.count_by_state() == {}
    usage = await store.usage(1, 3, "2026-11-23", "2026-11")
    assert usage.spend_today_usd == 0 and usage.guild_spend_month_usd == 0
    job = await store.create_job_with_charge(
        job_values(), Charge(1, 0, 0.5), ("2026-11-23", "2026-11"), lambda _: None
    )
    assert await store.queue_position(job) == 0 and [
        e.to_state for e in await store.events(job.id)
    ] == ["accepted"]


async def test_jobs_in_flight_at_the_trigger_release_settle_and_refund_once(
    tmp_path: Path,
) -> None:
    """A database left at m008 (triggers in place) with jobs in flight: after the
    upgrade each move's event, settle and refund happen once, from Python."""
    path = tmp_path / "old.db"
    old = old_database(path, "m009_rules_in_python")
    for job_id, state in ((1, "queued"), (2, "running"), (3, "succeeded")):
        insert_old_job(old, job_id, state, usd=0.25)
        old.execute(
            "INSERT INTO charges (job_id, guild_id, user_id, images, videos, usd, day, "
            "month, state, created_at, updated_at) VALUES "
            "(?, 7, 3, 1, 0, 0.25, '2026-11-23', '2026-11', ?, 1.0, 1.0)",
            [job_id, "settled" if state == "succeeded" else "reserved"],
        )  # the m006 trigger adds each to the running spend
    old.conn.commit()
    old.close()
    store = await Store.open(path)
    assert await charge_row(store, 1) == ("reserved", pytest.approx(0.75), pytest.approx(0.75))
    assert await store.transition(1, UPSTREAM, S.FAILED, "upstream FAILURE") is not None
    assert await store.transition(2, UPSTREAM, S.SUCCEEDED, "upstream SUCCESS") is not None
    assert await store.transition(3, S.SUCCEEDED, S.EXPIRED, "links gone") is not None
    new = await store.create_job_with_charge(
        job_values(guild_id=7), Charge(1, 0, 0.5), ("2026-11-23", "2026-11"), lambda _: None
    )
    events = [[(e.from_state, e.to_state) for e in await store.events(i)] for i in (1, 2, new.id)]
    charges = [await charge_row(store, i) for i in (1, 2, 3)]
    await store.close()
    assert charges[0] == ("refunded", pytest.approx(1.0), pytest.approx(1.0))
    assert charges[1][0] == "settled" and charges[2][0] == "settled"
    assert events == [
        [(None, "queued"), ("queued", "failed")],  # the first by the m006 trigger
        [(None, "running"), ("running", "succeeded")],
        [(None, "accepted")],
    ]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []
    conn.close()


async def test_terminal_transition_clears_schedules(store: Store) -> None:
    job = await store.create_job(job_values())
    await store.transition(job.id, S.ACCEPTED, S.SUBMITTING, "submit")
    await store.transition(job.id, S.SUBMITTING, S.QUEUED, "ok", task_id="t", next_poll_at=5.0)
    failed = await store.transition(job.id, S.QUEUED, S.FAILED, "upstream FAILURE")
    assert failed is not None
    assert failed.next_poll_at is None and failed.finished_at is not None


async def test_due_queries_and_next_times(store: Store) -> None:
    ids = []
    for when in (30.0, 10.0, 20.0):
        job = await store.create_job(job_values())
        await store.transition(job.id, S.ACCEPTED, S.SUBMITTING, "submit")
        await store.transition(
            job.id, S.SUBMITTING, S.QUEUED, "ok", task_id=f"t{when}", next_poll_at=when
        )
        ids.append(job.id)
    assert await store.next_poll_time() == 10.0
    claimed = await store.claim_due_polls(20.0, 10, until=50.0)
    assert sorted(j.id for j in claimed) == [ids[1], ids[2]]  # due at 10 and 20
    assert {j.poll_claimed_until for j in claimed} == {50.0}
    assert await store.claim_due_polls(20.0, 10, until=50.0) == [], "claimed: not due again"
    assert await store.next_poll_time() == 30.0
    [later] = await store.claim_due_polls(40.0, 5, until=150.0)
    assert later.id == ids[0]  # due at 30; the others are claimed until 50
    # Setting the next poll time ends a claim; a restart drops the claims left.
    assert (await store.update(ids[2], next_poll_at=60.0)).poll_claimed_until is None
    assert await store.release_poll_claims() == 2
    assert sorted(j.id for j in await store.claim_due_polls(40.0, 10, until=50.0)) == [
        ids[0],
        ids[1],
    ]
    done = await store.transition(
        ids[1], S.QUEUED, S.SUCCEEDED, "done", result_urls=["u"], next_delivery_at=1.0
    )
    assert done is not None
    assert await store.next_delivery_time() == 1.0
    assert [j.id for j in await store.due_for_delivery(1.0, 5)] == [ids[1]]


async def test_only_one_of_many_racing_claims_wins(store_target: str) -> None:
    """Two stores on one database (as two processes would be) claim the same due jobs at
    once: each job goes to one of them."""
    stores = [await Store.open(store_target) for _ in range(2)]
    for i in range(10):
        job = await stores[0].create_job(job_values())
        await stores[0].transition(job.id, S.ACCEPTED, S.SUBMITTING, "submit")
        await stores[0].transition(
            job.id, S.SUBMITTING, S.QUEUED, "ok", task_id=f"t{i}", next_poll_at=1.0
        )
    claims = await asyncio.gather(
        *[store.claim_due_polls(5.0, 3, until=60.0) for store in stores for _ in range(5)]
    )
    for store in stores:
        await store.close()
    ids = [job.id for claim in claims for job in claim]
    assert len(ids) == len(set(ids)) == 10


async def test_counters_user_queries_and_queue_position(store: Store) -> None:
    a = await store.create_job(job_values())
    b = await store.create_job(job_values())
    c = await store.create_job(job_values(user_id=99))
    await store.increment(a.id, "polls", 2)
    assert (await store.get(a.id)).polls == 2  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        await store.increment(a.id, "price_usd")
    await store.transition(a.id, S.ACCEPTED, S.CANCELLED, "member")
    assert [j.id for j in await store.for_user(1, 3)] == [b.id, a.id]
    assert [j.id for j in await store.for_user(1, 3, active=True)] == [b.id]
    assert [j.id for j in await store.for_user(1, 3, active=False)] == [a.id]
    assert await store.queue_position(c) == 1  # b is waiting ahead of c; a is cancelled
    assert await store.count_by_state() == {"cancelled": 1, "accepted": 2}


async def test_queue_position_counts_no_further_than_the_cap(store: Store) -> None:
    jobs = [await store.create_job(job_values()) for _ in range(QUEUE_COUNT_CAP + 5)]
    assert await store.queue_position(jobs[3]) == 3
    assert await store.queue_position(jobs[-1]) == QUEUE_COUNT_CAP


async def test_all_database_work_runs_on_one_thread(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    seen: set[int] = set()

    def record(*_: Any) -> None:
        seen.add(threading.get_ident())

    conn = store.db.conn  # type: ignore[attr-defined]
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")  # the event loop's thread cannot touch the DB
    await store.run(lambda: conn.set_trace_callback(record))
    await asyncio.gather(*[store.create_job(job_values()) for _ in range(10)])
    await store.count_by_state()
    await store.close()
    assert len(seen) == 1 and threading.get_ident() not in seen


async def test_close_lets_the_calls_made_before_it_finish(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.db")
    created = [asyncio.ensure_future(store.create_job(job_values())) for _ in range(30)]
    await asyncio.sleep(0)
    await store.close()
    jobs = await asyncio.gather(*created)
    assert len({j.id for j in jobs}) == 30
    with pytest.raises(RuntimeError):
        await store.get(jobs[0].id)


async def test_guild_config_limits_blocks_and_audit_round_trip(store: Store) -> None:
    from bot.domain.quota import Limits

    assert (await store.guild_config(5)).channel_mode == "all"
    config = await store.update_guild_config(
        5, allowed_models={"veo3"}, banned_words=("x",), daily_budget_usd=None
    )
    again = await store.guild_config(5)
    assert again == config and again.allowed_models == frozenset({"veo3"})
    assert again.daily_budget_usd is None and again.monthly_budget_usd == 200.0
    with pytest.raises(KeyError):
        await store.update_guild_config(5, no_such_setting=1)
    await store.set_limits(5, "role", 9, Limits(images_per_day=3))
    await store.set_limits(5, "role", 9, Limits(images_per_day=4))  # upsert
    layers = await store.limit_layers(5, 1, [9, 10])
    assert layers.roles == (Limits(images_per_day=4),)
    assert await store.reset_limits(5, "role", 9) is True
    assert await store.reset_limits(5, "role", 9) is False
    await store.block(5, 1, "spam", 100.0, 2)
    assert (await store.active_block(5, 1, 50.0))["reason"] == "spam"  # type: ignore[index]
    assert await store.active_block(5, 1, 150.0) is None
    assert await store.unblock(5, 1) is True
    await store.add_audit(5, 2, "limits set", "role:9", {"images_per_day": 4})
    entry = (await store.audit_entries(5))[0]
    assert entry["action"] == "limits set" and entry["detail"] == {"images_per_day": 4}


async def test_untold_endings_are_found_until_stamped(store: Store) -> None:
    failed = await store.create_job(job_values())
    await store.transition(failed.id, S.ACCEPTED, S.CANCELLED, "member")
    plain = await store.create_job(job_values())
    await store.transition(plain.id, S.ACCEPTED, S.SUBMITTING, "submit")
    await store.transition(plain.id, S.SUBMITTING, S.RUNNING, "ok", task_id="t")
    await store.transition(plain.id, S.RUNNING, S.SUCCEEDED, "done", result_urls=["u"])
    await store.transition(plain.id, S.SUCCEEDED, S.DELIVERING, "post")
    await store.transition(plain.id, S.DELIVERING, S.DELIVERED, "posted")
    assert [j.id for j in await store.untold_endings(0)] == [failed.id]  # delivered: no card
    await store.update(plain.id, progress_message_id=5)
    assert [j.id for j in await store.untold_endings(0)] == [failed.id, plain.id]
    await store.update(failed.id, ending_told_at=1.0)
    assert [j.id for j in await store.untold_endings(0)] == [plain.id]
    assert await store.untold_endings(10**12) == []  # too old to tell


async def test_guild_caches_follow_every_write(store: Store) -> None:
    from bot.domain.quota import Limits

    assert (await store.guild_config(8)).banned_words == ()
    await store.update_guild_config(8, banned_words=("x",))
    assert (await store.guild_config(8)).banned_words == ("x",)
    assert (await store.limit_layers(8, 1)).guild == Limits()
    await store.set_limits(8, "guild", 0, Limits(images_per_day=2))
    assert (await store.limit_layers(8, 1)).guild == Limits(images_per_day=2)
    await store.reset_limits(8, "guild", 0)
    assert (await store.limit_layers(8, 1)).guild == Limits()
    assert await store.active_block(8, 1, 0.0) is None
    await store.block(8, 1, "r", None, 2)
    assert (await store.active_block(8, 1, 0.0)) is not None
    await store.unblock(8, 1)
    assert await store.active_block(8, 1, 0.0) is None
    # A fresh store over the same file reads what was written.
    other = await Store.open(store.path)
    assert (await other.guild_config(8)).banned_words == ("x",)
    await other.close()


async def test_update_if_writes_only_in_the_expected_states(store: Store) -> None:
    job = await store.create_job(job_values())
    assert await store.update_if(job.id, [S.QUEUED], polls=3) is False
    assert await store.update_if(job.id, [S.ACCEPTED], polls=3) is True
    assert (await store.get(job.id)).polls == 3  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        await store.update_if(job.id, [S.ACCEPTED], state=S.QUEUED)
    with pytest.raises(KeyError):
        await store.update_if(job.id, [S.ACCEPTED], no_such_column=1)


async def test_spend_totals_are_backfilled_from_earlier_charges(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = old_database(path, "m004_spend_totals")
    for job_id, usd, state in ((1, 0.5, "settled"), (2, 0.25, "reserved"), (3, 9.0, "refunded")):
        insert_old_job(old, job_id, "running", usd=usd)
        old.execute(
            "INSERT INTO charges (job_id, guild_id, user_id, images, videos, usd, day, month, "
            "state, created_at, updated_at) "
            "VALUES (?, 7, 3, 1, 0, ?, '2026-11-23', '2026-11', ?, 1.0, 1.0)",
            [job_id, usd, state],
        )
    old.conn.commit()
    old.close()
    store = await Store.open(path)
    usage = await store.usage(7, 3, "2026-11-23", "2026-11")
    await store.close()
    assert usage.guild_spend_today_usd == pytest.approx(0.75)
    assert usage.guild_spend_month_usd == pytest.approx(0.75)
    assert usage.spend_today_usd == pytest.approx(0.75) and usage.images_today == 2


async def test_a_charge_reserved_by_an_earlier_release_is_refunded_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    old = old_database(path, "m006_bookkeeping_triggers")
    insert_old_job(old, 1, "queued", usd=0.25)
    old.execute(
        "INSERT INTO charges (job_id, guild_id, user_id, images, videos, usd, day, month, "
        "state, created_at, updated_at) "
        "VALUES (1, 7, 3, 1, 0, 0.25, '2026-11-23', '2026-11', 'reserved', 1.0, 1.0)"
    )
    old.execute(
        "INSERT INTO spend_totals (guild_id, period, usd) "
        "VALUES (7, 'd:2026-11-23', 0.25), (7, 'm:2026-11', 0.25)"
    )
    old.conn.commit()
    old.close()
    store = await Store.open(path)
    await store.transition(1, S.QUEUED, S.FAILED, "upstream failed")
    usage = await store.usage(7, 3, "2026-11-23", "2026-11")
    job = await store.create_job_with_charge(
        job_values(guild_id=7), Charge(1, 0, 0.5), ("2026-11-23", "2026-11"), lambda _: None
    )
    after = await store.usage(7, 3, "2026-11-23", "2026-11")
    events = await store.events(job.id)
    await store.close()
    assert usage.guild_spend_today_usd == pytest.approx(0.0)
    assert usage.guild_spend_month_usd == pytest.approx(0.0)
    assert after.guild_spend_today_usd == pytest.approx(0.5)
    assert after.guild_spend_month_usd == pytest.approx(0.5)
    first = [(e.from_state, e.to_state, e.reason) for e in events]
    assert first == [(None, "accepted", "accepted")]


async def test_concurrent_list_edits_lose_nothing(store: Store) -> None:
    def adding(word: str):  # type: ignore[no-untyped-def]
        return lambda config: {"banned_words": (*config.banned_words, word)}

    await asyncio.gather(*[store.edit_guild_config(3, adding(f"w{i}")) for i in range(20)])
    assert sorted((await store.guild_config(3)).banned_words) == sorted(f"w{i}" for i in range(20))


def test_rows_become_jobs_whatever_the_column_order() -> None:
    """Column order, extra columns and missing optional ones do not matter, and each
    empty JSON cell is its own object."""
    columns = {
        "task_id": "t1",
        "id": 7,
        "state": "running",
        "input": '{"prompt": "a fox"}',
        "result_urls": "[]",
        "options": "{}",
        "price_documented": 1,
        "guild_id": None,
        "channel_id": 2,
        "user_id": 3,
        "media": "image",
        "model": "nano-banana",
        "prompt": "a fox",
        "price_usd": 0.04,
        "created_at": 1.0,
        "updated_at": 2.0,
        "not_a_field": "ignored",
    }
    job = Job.from_row(columns)
    assert (job.id, job.task_id, job.state) == (7, "t1", S.RUNNING)
    assert job.input == {"prompt": "a fox"} and job.options == {} and job.result_urls == []
    assert job.price_documented is True and job.polls == 0 and job.image_urls == []
    reversed_columns = dict(reversed(columns.items()))
    assert Job.from_row(reversed_columns) == job
    again = Job.from_row(columns)
    again.result_urls.append("https://example.invalid/x.png")
    assert job.result_urls == []
    # Every column present, in reverse order.
    full = {name: getattr(job, name) for name in reversed(Job.__dataclass_fields__)}
    full.update(state="running", input='{"prompt": "a fox"}', result_urls='["u"]')
    full.update(options="{}", image_urls="[]", result_message_ids="[5]")
    read = Job.from_row(full)
    assert read.result_urls == ["u"] and read.result_message_ids == [5]
    assert read == dataclasses.replace(job, result_urls=["u"], result_message_ids=[5])


async def test_a_delivery_claim_goes_to_one_process_and_fences_the_loser(
    store_target: str,
) -> None:
    """Two stores (two processes) claim one due delivery at once: one wins. When the
    claim runs out and the other takes over, the first one's writes are refused."""
    stores = [await Store.open(store_target) for _ in range(2)]
    job = await stores[0].create_job(job_values())
    await force_state(stores[0], job.id, S.SUCCEEDED)
    await stores[0].update(job.id, next_delivery_at=1.0)
    claims = await asyncio.gather(
        *[s.claim_delivery(job.id, 5.0, 65.0, f"p{i}") for i, s in enumerate(stores)]
    )
    [first] = [c for c in claims if c is not None]
    assert first.fence == 1 and first.next_delivery_at == 65.0
    assert await stores[1].claim_delivery(job.id, 30.0, 90.0, "late") is None  # still held
    took = await stores[1].claim_delivery(job.id, 66.0, 126.0, "taker")  # ran out: taken
    assert took is not None and took.fence == 2 and took.owner == "taker"
    assert await stores[0].update_fenced(job.id, first.fence, result_message_ids=[1]) is None
    stale = await stores[0].transition(job.id, S.SUCCEEDED, S.DELIVERING, "late", fence=first.fence)
    assert stale is None
    kept = await stores[1].update_fenced(job.id, took.fence, result_message_ids=[2])
    assert kept is not None and kept.result_message_ids == [2]
    for store in stores:
        await store.close()


async def test_each_process_queues_its_own_deliveries_and_a_dead_ones(store: Store) -> None:
    """Two live processes never both queue a delivery (only one could claim it); a job of a
    process not heard from is everyone's."""
    await store.heartbeat("a", None, 30)
    await store.heartbeat("b", None, 30)
    ids = {}
    for owner in ("a", "b", "gone", None):
        job = await store.create_job(job_values(owner=owner))
        await force_state(store, job.id, S.SUCCEEDED)
        await store.update(job.id, next_delivery_at=1.0)
        ids[owner] = job.id
    due_a = {j.id for j in await store.due_for_delivery(5.0, 10, owner="a", stale_after=30)}
    due_b = {j.id for j in await store.due_for_delivery(5.0, 10, owner="b", stale_after=30)}
    assert due_a == {ids["a"], ids["gone"], ids[None]}
    assert due_b == {ids["b"], ids["gone"], ids[None]}
    assert len(await store.due_for_delivery(5.0, 10)) == 4  # no owner given: every due one
