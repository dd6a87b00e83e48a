"""A member's job history on SQLite and PostgreSQL: newest first, a page at a time with
the total, searched by prompt (any case; ``%`` and ``_`` are plain characters)."""

from __future__ import annotations

from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.store import Store
from bot.store.history import like_pattern
from tests.helpers.store import job_values

GUILD = 1
ME = 3
OTHER = 4


async def made(store: Store, prompt: str, *, user: int = ME, guild: int = GUILD) -> Job:
    return await store.create_job(job_values(user_id=user, guild_id=guild, prompt=prompt))


async def test_pages_are_newest_first_with_the_total(store: Store) -> None:
    mine = [await made(store, f"job {i}") for i in range(23)]
    await made(store, "not mine", user=OTHER)
    await made(store, "another server", guild=2)

    first, total = await store.history_page(GUILD, ME, offset=0, limit=10)
    assert total == 23
    assert [j.id for j in first] == [j.id for j in reversed(mine)][:10]
    last, total = await store.history_page(GUILD, ME, offset=20, limit=10)
    assert total == 23 and [j.id for j in last] == [j.id for j in mine[:3]][::-1]


async def test_search_matches_the_prompt_in_any_case(store: Store) -> None:
    cat = await made(store, "A CAT on a mat")
    dog = await made(store, "a dog")
    kitten = await made(store, "concatenate the catalogue")
    await made(store, "a cat of someone else", user=OTHER)

    found, total = await store.history_page(GUILD, ME, search="cat")
    assert total == 2 and [j.id for j in found] == [kitten.id, cat.id]
    found, total = await store.history_page(GUILD, ME, search="  DOG ")
    assert total == 1 and found[0].id == dog.id
    everyone, total = await store.history_page(GUILD, None, search="cat")
    assert total == 3 and len(everyone) == 3


async def test_percent_and_underscore_are_plain_characters(store: Store) -> None:
    sale = await made(store, "50% off")
    snake = await made(store, "snake_case!")
    await made(store, "50 percent, snakeXcase")

    found, _ = await store.history_page(GUILD, ME, search="0%")
    assert [j.id for j in found] == [sale.id]
    found, _ = await store.history_page(GUILD, ME, search="e_c")
    assert [j.id for j in found] == [snake.id]
    found, _ = await store.history_page(GUILD, ME, search="e!")
    assert [j.id for j in found] == [snake.id]
    assert like_pattern("A%b_c!") == "%a!%b!_c!!%"


async def test_active_filters_unfinished_or_finished(store: Store) -> None:
    running = await made(store, "a cat running")
    done = await made(store, "a cat done")
    moved = await store.transition(done.id, done.state, JobState.CANCELLED, "test")
    assert moved is not None
    found, _ = await store.history_page(GUILD, ME, search="cat", active=True)
    assert [j.id for j in found] == [running.id]
    found, _ = await store.history_page(GUILD, ME, search="cat", active=False)
    assert [j.id for j in found] == [done.id]
