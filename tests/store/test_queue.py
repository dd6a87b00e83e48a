"""The queue reads behind ``/queue``, on SQLite and PostgreSQL: a server's unfinished jobs
oldest first, a slice with the total, and a member's places in the server's queue."""

from __future__ import annotations

from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.services.queue import PER_PAGE, page_count, read_page, read_places
from bot.store import Store
from tests.helpers.store import job_values

S = JobState
GUILD = 1
OTHER_GUILD = 9


async def job_in(store: Store, state: JobState, *, user: int = 3, guild: int = GUILD) -> Job:
    """A job moved along the state machine to ``state``."""
    job = await store.create_job(job_values(user_id=user, guild_id=guild))
    path = {
        S.ACCEPTED: [],
        S.SUBMITTING: [S.SUBMITTING],
        S.QUEUED: [S.SUBMITTING, S.QUEUED],
        S.RUNNING: [S.SUBMITTING, S.RUNNING],
        S.SUCCEEDED: [S.SUBMITTING, S.RUNNING, S.SUCCEEDED],
        S.DELIVERING: [S.SUBMITTING, S.RUNNING, S.SUCCEEDED, S.DELIVERING],
        S.DELIVERED: [S.SUBMITTING, S.RUNNING, S.SUCCEEDED, S.DELIVERING, S.DELIVERED],
        S.CANCELLED: [S.CANCELLED],
        S.FAILED: [S.SUBMITTING, S.FAILED],
    }[state]
    for target in path:
        moved = await store.transition(job.id, job.state, target, "test")
        assert moved is not None
        job = moved
    return job


async def test_the_slice_holds_every_unfinished_state_oldest_first(store: Store) -> None:
    active = [
        await job_in(store, state)
        for state in (S.ACCEPTED, S.SUBMITTING, S.QUEUED, S.RUNNING, S.SUCCEEDED, S.DELIVERING)
    ]
    for state in (S.DELIVERED, S.CANCELLED, S.FAILED):
        await job_in(store, state)
    await job_in(store, S.RUNNING, guild=OTHER_GUILD)

    jobs, total = await store.queue_slice(GUILD, 0, 10)
    assert total == 6
    assert [j.id for j in jobs] == [j.id for j in active]
    assert [j.state for j in jobs] == [j.state for j in active]

    jobs, total = await store.queue_slice(GUILD, 4, 10)
    assert (total, [j.id for j in jobs]) == (6, [active[4].id, active[5].id])
    jobs, total = await store.queue_slice(GUILD, 6, 10)
    assert (total, jobs) == (6, [])
    assert await store.queue_slice(12345, 0, 10) == ([], 0)


async def test_a_members_places_count_everyone_s_older_jobs(store: Store) -> None:
    first = await job_in(store, S.RUNNING, user=5)
    mine_a = await job_in(store, S.QUEUED, user=3)
    await job_in(store, S.DELIVERED, user=5)  # finished: no place
    await job_in(store, S.ACCEPTED, user=6)
    mine_b = await job_in(store, S.ACCEPTED, user=3)
    await job_in(store, S.RUNNING, user=3, guild=OTHER_GUILD)  # another server's queue

    places, total = await store.queue_places(GUILD, 3, 10)
    assert total == 4
    assert [(job.id, place) for job, place in places] == [(mine_a.id, 2), (mine_b.id, 4)]
    assert await store.queue_places(GUILD, 77, 10) == ([], 4)
    assert (await store.queue_places(GUILD, 3, 1))[0][0][0].id == mine_a.id

    await store.transition(first.id, S.RUNNING, S.CANCELLED, "test")
    places, total = await store.queue_places(GUILD, 3, 10)
    assert (total, [place for _, place in places]) == (3, [1, 3])


async def test_pages_are_ten_jobs_and_a_page_past_the_end_shows_the_last(store: Store) -> None:
    jobs = [await job_in(store, S.ACCEPTED, user=i) for i in range(23)]
    assert page_count(0) == 1 and page_count(10) == 1 and page_count(11) == 2

    first = await read_page(store, GUILD, 1)
    assert (first.total, first.page, first.pages, first.first_place) == (23, 1, 3, 1)
    assert [j.id for j in first.jobs] == [j.id for j in jobs[:PER_PAGE]]
    third = await read_page(store, GUILD, 3)
    assert [j.id for j in third.jobs] == [j.id for j in jobs[20:]]
    assert third.first_place == 21

    for job in jobs[:15]:
        await store.transition(job.id, S.ACCEPTED, S.CANCELLED, "test")
    shrunk = await read_page(store, GUILD, 3)  # a Next drawn when there were three pages
    assert (shrunk.page, shrunk.pages, shrunk.total) == (1, 1, 8)
    assert [j.id for j in shrunk.jobs] == [j.id for j in jobs[15:]]
    assert (await read_page(store, GUILD, 0)).page == 1

    places = await read_places(store, GUILD, 22)
    assert (places.total, [p for _, p in places.places]) == (8, [8])
