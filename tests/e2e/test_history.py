"""``/jobs`` as a history: all of the member's jobs here, newest first, ten a page with
Previous and Next, a prompt search, and ``/show`` autocomplete by prompt text."""

from __future__ import annotations

from bot.domain.job import Job
from bot.domain.job_states import JobState
from tests.discord_world import Member, Message, World
from tests.e2e.support import App, answer, run_to_the_end
from tests.helpers.store import job_values


async def finished(app: App, world: World, prompt: str, user: Member | None = None) -> Job:
    """A job of ``user`` (the world's member) here, already ended (cancelled)."""
    who = user or world.member
    job = await app.store.create_job(
        job_values(
            guild_id=world.guild.id, channel_id=world.channel.id, user_id=who.id, prompt=prompt
        )
    )
    moved = await app.store.transition(job.id, job.state, JobState.CANCELLED, "test")
    assert moved is not None
    return moved


def listed(message: Message) -> list[int]:
    """The job ids a /jobs page shows, in order."""
    text = message.embeds[0]["description"]
    return [int(line.split(" ")[0].strip("*#")) for line in text.splitlines()]


async def test_jobs_pages_through_every_job_newest_first(world: World, app: App) -> None:
    jobs = [await finished(app, world, f"job {i}") for i in range(23)]
    await finished(app, world, "someone else's", user=world.moderator)
    newest = [job.id for job in reversed(jobs)]

    message = await answer(await world.slash("jobs"))
    assert message.ephemeral and listed(message) == newest[:10]
    assert "Page 1 of 3" in message.embed_text()
    assert message.component("atelier:history:prev:1")["disabled"] is True

    await world.click(message, "atelier:history:next:2")
    await world.wait_for(lambda: "Page 2 of 3" in message.embed_text(), what="page 2")
    assert listed(message) == newest[10:20]
    await world.click(message, "atelier:history:next:3")
    await world.wait_for(lambda: "Page 3 of 3" in message.embed_text(), what="page 3")
    assert listed(message) == newest[20:]
    assert "someone else's" not in message.embed_text()
    assert message.component("atelier:history:next:3")["disabled"] is True

    await world.click(message, "atelier:history:prev:2")
    await world.wait_for(lambda: "Page 2 of 3" in message.embed_text(), what="back to 2")
    assert listed(message) == newest[10:20]


async def test_jobs_search_shows_only_matching_prompts(world: World, app: App) -> None:
    cat = await finished(app, world, "a black CAT")
    await finished(app, world, "a dog")
    scatter = await finished(app, world, "scatter plot")
    await finished(app, world, "their cat", user=world.moderator)
    await finished(app, world, "100% cotton")

    message = await answer(await world.slash("jobs", {"search": "cat"}))
    assert listed(message) == [scatter.id, cat.id]
    assert "Page 1 of 1 · 2 jobs" in message.embed_text()
    assert "“cat”" in message.embeds[0]["title"]

    literal = await answer(await world.slash("jobs", {"search": "0%"}))
    assert len(listed(literal)) == 1 and "cotton" in literal.embed_text()
    none = await answer(await world.slash("jobs", {"search": "whale"}))
    assert "None of your jobs" in none.embed_text() and none.custom_ids() == []


async def test_search_pages_keep_the_search(world: World, app: App) -> None:
    cats = [await finished(app, world, f"cat number {i}") for i in range(12)]
    await finished(app, world, "a dog")
    message = await answer(await world.slash("jobs", {"search": "cat"}))
    assert "Page 1 of 2 · 12 jobs" in message.embed_text()
    await world.click(message, "atelier:history:next:2:cat")
    await world.wait_for(lambda: "Page 2 of 2" in message.embed_text(), what="page 2")
    assert listed(message) == [cats[1].id, cats[0].id]


async def test_another_member_never_sees_my_jobs(world: World, app: App) -> None:
    await finished(app, world, "my secret cat")
    theirs = await answer(await world.slash("jobs", user=world.moderator))
    assert "secret" not in theirs.embed_text()
    found = await answer(await world.slash("jobs", {"search": "secret"}, user=world.moderator))
    assert "None of your jobs" in found.embed_text()


async def test_show_autocomplete_matches_typed_prompt_text(world: World, app: App) -> None:
    cat, _ = await run_to_the_end(world, app, await world.slash("imagine", {"prompt": "a CAT"}))
    dog, _ = await run_to_the_end(world, app, await world.slash("imagine", {"prompt": "a dog"}))
    typed = await world.autocomplete("show", {"job": "cat"}, focused="job")
    choices = await typed.choices()
    assert [c["value"] for c in choices] == [cat.id]
    assert choices[0]["name"].startswith(f"#{cat.id} · ") and "a CAT" in choices[0]["name"]
    everything = await world.autocomplete("show", {"job": ""}, focused="job")
    assert [c["value"] for c in await everything.choices()] == [dog.id, cat.id]
    other = world.add_member("someone-else")
    theirs = await world.autocomplete("show", {"job": "cat"}, focused="job", user=other)
    assert await theirs.choices() == []
