"""Several processes over one PostgreSQL: each a Store and a JobService of its own, sharing
the simulator. A process "dies" by falling silent (no more heartbeats)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest

from bot.domain.catalog import GenerationRequest
from bot.domain.errors import DuplicateInteraction, LimitReached
from bot.domain.job_states import JobState
from bot.domain.quota import Limits
from bot.services.cluster import Cluster
from bot.services.jobs import JobService
from bot.services.poller import TokenBucket
from bot.store import Store, StoreUnavailable
from tests.helpers.jobs import IMAGE, REQUESTER, Harness, harness
from tests.helpers.postgres import PostgresServer

S = JobState
GUILD = REQUESTER.guild_id or 0


@pytest.fixture
async def url(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


@pytest.fixture
async def h(url: str) -> AsyncIterator[Harness]:
    async with harness(url) as running:
        yield running


@pytest.fixture
async def other(h: Harness, url: str) -> AsyncIterator[JobService]:
    """A second process: its own store and job service, the same Max API."""
    store = await Store.open(url)
    jobs = JobService(store, h.catalog, h.api, schedule=h.jobs.schedule, clock=h.jobs.clock)
    yield jobs
    await jobs.close()
    await store.close()


async def test_a_silent_processes_jobs_are_taken_over_after_the_lease(
    h: Harness, other: JobService
) -> None:
    """Its job caught mid-submit becomes lost (never sent again); its unsent one is sent
    by the taker. Nothing happens while its heartbeat is fresh."""
    await h.store.heartbeat(h.jobs.process_id, None, 60)
    sending = await h.jobs.accept(GenerationRequest(IMAGE, "mid-submit"), REQUESTER)
    await h.store.transition(
        sending.id, S.ACCEPTED, S.SUBMITTING, "submit", owner=h.jobs.process_id
    )
    unsent = await h.jobs.accept(GenerationRequest(IMAGE, "never sent"), REQUESTER)
    taker = Cluster(other, stale_after=0.5)

    await taker.beat()
    assert (await h.job(sending.id)).state == S.SUBMITTING  # the owner may still send it
    assert (await h.job(unsent.id)).owner == h.jobs.process_id

    await asyncio.sleep(0.6)  # the owner stays silent past the lease
    assert await taker.beat() == 1  # only the taker is alive
    lost = await h.job(sending.id)
    assert lost.state == S.LOST and lost.failure_reason == "LOST"
    sent = await h.wait_state(unsent.id, S.QUEUED)
    assert sent.owner == other.process_id
    assert [r.body["input"]["prompt"] for r in h.sim.submissions] == ["never sent"]

    await taker.beat()  # a second look takes nothing more and sends nothing again
    await asyncio.sleep(0.05)
    assert len(h.sim.submissions) == 1


async def test_a_restart_beside_a_live_process_leaves_its_work_alone(
    h: Harness, other: JobService
) -> None:
    """With a shared store, a process that starts does not judge the others dead."""
    await h.store.heartbeat(h.jobs.process_id, None, 60)
    sending = await h.jobs.accept(GenerationRequest(IMAGE, "mid-submit"), REQUESTER)
    await h.store.transition(
        sending.id, S.ACCEPTED, S.SUBMITTING, "submit", owner=h.jobs.process_id
    )
    counts = await other.recover()
    assert counts["lost"] == 0 and counts["resubmitted"] == 0
    assert (await h.job(sending.id)).state == S.SUBMITTING


async def test_accepts_in_three_processes_never_pass_a_limit(h: Harness, url: str) -> None:
    await h.store.set_limits(GUILD, "guild", 0, Limits(images_per_day=10, jobs_at_once=100))
    stores = [await Store.open(url) for _ in range(3)]
    services = [JobService(s, h.catalog, h.api, clock=h.jobs.clock) for s in stores]
    request = GenerationRequest(IMAGE, "a fox")
    results = await asyncio.gather(
        *[services[i % 3].accept(request, REQUESTER) for i in range(30)],
        return_exceptions=True,
    )
    for store in stores:
        await store.close()
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, LimitReached)]
    assert len(accepted) == 10 and len(refused) == 20
    assert {job.owner for job in accepted} == {s.process_id for s in services}


async def test_one_interaction_makes_one_job_whichever_process_receives_it(
    h: Harness, other: JobService
) -> None:
    asked = dataclasses.replace(REQUESTER, interaction_id=1234567890123456789)
    request = GenerationRequest(IMAGE, "a fox")
    first = await h.jobs.accept(request, asked)
    with pytest.raises(DuplicateInteraction):
        await other.accept(request, asked)
    assert [j.id for j in await h.store.for_user(GUILD, REQUESTER.user_id)] == [first.id]
    assert first.interaction_id == asked.interaction_id


async def test_a_moderators_change_reaches_every_process_within_a_second(
    h: Harness, url: str
) -> None:
    reader = await Store.open(url)
    try:
        assert (await reader.limit_layers(GUILD, 3)).guild.images_per_day != 2
        assert await reader.active_block(GUILD, 3, time.time()) is None
        assert (await reader.guild_config(GUILD)).banned_words == ()
        await h.store.set_limits(GUILD, "guild", 0, Limits(images_per_day=2))
        await h.store.block(GUILD, 3, "spam", None, 9)
        await h.store.update_guild_config(GUILD, banned_words=("x",))
        changed = time.monotonic()
        while True:
            seen = (
                (await reader.limit_layers(GUILD, 3)).guild == Limits(images_per_day=2),
                await reader.active_block(GUILD, 3, time.time()) is not None,
                (await reader.guild_config(GUILD)).banned_words == ("x",),
            )
            if all(seen):
                break
            assert time.monotonic() - changed < 1.0, f"not seen within 1 s: {seen}"
            await asyncio.sleep(0.05)
    finally:
        await reader.close()


async def test_processes_starting_together_migrate_once(url: str) -> None:
    stores = await asyncio.gather(*[Store.open(url) for _ in range(4)])

    def applied() -> list[str]:
        return [row[0] for row in stores[0].db.execute("SELECT name FROM schema_migrations")]

    names = await stores[0].run(applied)
    for store in stores:
        await store.close()
    assert sorted(names) == sorted(set(names)) and "p001_schema" in names


async def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    with pytest.raises(StoreUnavailable) as refused:
        await Store.open("postgresql://atelier:hunter2-secret@127.0.0.1:9/atelier")
    assert str(refused.value).startswith("cannot reach PostgreSQL at 127.0.0.1:9/atelier (")
    assert "hunter2" not in str(refused.value) and "\n" not in str(refused.value)


async def test_poll_rate_is_the_clusters_total_shared_between_live_processes(
    h: Harness, other: JobService
) -> None:
    buckets = [TokenBucket(40.0), TokenBucket(40.0)]
    clusters = [
        Cluster(jobs, on_count=bucket.share)
        for jobs, bucket in zip((h.jobs, other), buckets, strict=True)
    ]
    assert await clusters[0].beat() == 1 and buckets[0].rate == 40.0
    assert await clusters[1].beat() == 2 and buckets[1].rate == 20.0
    assert await clusters[0].beat() == 2 and buckets[0].rate == 20.0
    await clusters[1].leave()  # a clean stop: the other gets the whole rate back
    assert await clusters[0].beat() == 1 and buckets[0].rate == 40.0
