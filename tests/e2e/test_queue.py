"""``/queue`` end to end: real discord.py against the local Discord, the Max API simulator
and the whole :class:`~bot.runtime.Runtime`.

A moderator pages through every active job of the server (ten a page, oldest first) and
cancels one from the page (refunded as usual); the paging buttons work after a restart;
a member sees only their own places, and nobody else's job; an empty queue says so; the
pages read in Chinese.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.discord_io.client import AtelierBot
from bot.domain.catalog import GenerationRequest
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.domain.quota import Limits
from bot.runtime import Runtime
from bot.services.jobs import Requester
from bot.settings import Settings
from bot.store import Store
from tests.discord_world import Member, Message, World
from tests.e2e.support import answer, settled, started

S = JobState
MODEL = "nano-banana-2"
NEXT, PREVIOUS = "atelier:queue:next:{}", "atelier:queue:prev:{}"


def store_of(runtime: Runtime) -> Store:
    assert runtime.store is not None
    return runtime.store


async def roomy(store: Store, world: World) -> None:
    """Limits that let one member hold a dozen jobs at once."""
    limits = Limits(images_per_day=100, jobs_at_once=50, cooldown_seconds=0)
    await store.set_limits(world.guild.id, "guild", 0, limits)


async def accept(runtime: Runtime, world: World, who: Member, prompt: str = "a fox") -> Job:
    """A job accepted (quota reserved) as ``/imagine`` would, left in the queue."""
    assert runtime.jobs is not None
    requester = Requester(guild_id=world.guild.id, channel_id=world.channel.id, user_id=who.id)
    return await runtime.jobs.accept(GenerationRequest(MODEL, prompt, {}), requester)


async def queue(world: World, user: Member, locale: str = "en-US") -> Message:
    message = await answer(await world.slash("queue", user=user, locale=locale))
    assert message.ephemeral
    return message


def lines(message: Message) -> list[str]:
    (embed,) = message.embeds
    return str(embed["description"]).split("\n")


def footer(message: Message) -> str:
    (embed,) = message.embeds
    return str(embed["footer"]["text"])


async def charge_state(store: Store, job_id: int) -> str:
    sql = "SELECT state FROM charges WHERE job_id = ?"
    return str(await store.run(lambda: store.db.execute(sql, [job_id]).fetchone()[0]))


async def test_a_moderator_pages_through_the_queue_and_cancels_a_job(
    world: World, runtime: Runtime
) -> None:
    store = store_of(runtime)
    await roomy(store, world)
    others = [world.add_member(f"artist-{i}") for i in range(3)]
    jobs = [await accept(runtime, world, others[i % 3], f"fox {i}") for i in range(12)]
    finished = await accept(runtime, world, world.member)
    assert (await runtime.jobs.cancel(finished.id)).cancelled  # type: ignore[union-attr]

    page = await queue(world, world.moderator)
    shown = lines(page)
    assert page.embeds[0]["title"] == "Queue: 12 active job(s)"
    assert footer(page) == "Page 1 of 2 · oldest first"
    assert len(shown) == 10
    for place, (line, job) in enumerate(zip(shown, jobs, strict=False), start=1):
        assert line.startswith(f"**{place}.** #{job.id} · <@{job.user_id}> · <#{job.channel_id}>")
        assert f"`{MODEL}` · waiting to start · <t:{int(job.created_at)}:R> · " in line
        assert line.endswith("$0.10 (estimate)")  # the catalogue's price for the model
    assert f"#{finished.id} " not in page.embeds[0]["description"]
    cancels = [c for c in page.custom_ids() if c.startswith("atelier:cancel:")]
    assert cancels == [f"atelier:cancel:{job.id}" for job in jobs[:10]]
    assert page.component(PREVIOUS.format(1)).get("disabled") is True
    assert page.component_by_label("Refresh")["custom_id"] == "atelier:queue:show:1"

    click = await world.click(page, NEXT.format(2), user=world.moderator)
    await click.wait_response()
    await world.wait_for(lambda: footer(page) == "Page 2 of 2 · oldest first", what="page 2")
    assert page.ephemeral
    assert [line.split(" · ")[0] for line in lines(page)] == [
        f"**11.** #{jobs[10].id}",
        f"**12.** #{jobs[11].id}",
    ]
    assert page.component(NEXT.format(2)).get("disabled") is True

    target = jobs[11]
    click = await world.click(page, f"atelier:cancel:{target.id}", user=world.moderator)
    said = await click.wait_followup()
    assert said.ephemeral
    assert f"Cancelled job #{target.id} of <@{target.user_id}>. They were not charged." in (
        said.content
    )
    assert (await settled(store, target.id)).state == S.CANCELLED
    assert await charge_state(store, target.id) == "refunded"
    (audited,) = [
        e for e in await store.audit_entries(world.guild.id) if e["action"] == "job.cancel"
    ]
    assert (audited["actor_id"], audited["target"]) == (
        world.moderator.id,
        f"user:{target.user_id}",
    )

    click = await world.click(page, "atelier:queue:show:2", user=world.moderator)
    await click.wait_response()
    await world.wait_for(lambda: len(lines(page)) == 1, what="the refreshed page")
    assert page.embeds[0]["title"] == "Queue: 11 active job(s)"


async def test_a_member_sees_only_their_own_places(world: World, runtime: Runtime) -> None:
    store = store_of(runtime)
    await roomy(store, world)
    stranger = world.add_member("stranger")
    await accept(runtime, world, stranger, "someone else's secret")
    mine = await accept(runtime, world, world.member, "my fox")
    await accept(runtime, world, stranger, "another secret")
    later = await accept(runtime, world, world.member, "my owl")

    message = await queue(world, world.member)
    text = message.embed_text()
    assert message.embeds[0]["title"] == "Your place in the queue"
    assert f"Your job #{mine.id} is 2nd of 4 in this server's queue." in text
    assert f"Your job #{later.id} is 4th of 4 in this server's queue." in text
    assert "secret" not in text and f"<@{stranger.id}>" not in text
    assert f"atelier:cancel:{mine.id}" in message.custom_ids()
    assert not [
        c
        for c in message.custom_ids()
        if c.startswith(("atelier:queue:next", "atelier:queue:prev"))
    ]

    # A member with no job of their own learns only how long the queue is.
    other = await queue(world, world.add_member("idle"))
    assert "You have no job in this server's queue. It holds 4 job(s) now." in other.embed_text()

    # The rights are checked on every click: a member clicking a moderator's page sees
    # their own places, not the queue.
    for i in range(8):
        await accept(runtime, world, stranger, f"filler {i}")
    page = await queue(world, world.moderator)
    assert footer(page) == "Page 1 of 2 · oldest first"
    click = await world.click(page, NEXT.format(2), user=world.member)
    await click.wait_response()
    await world.wait_for(lambda: "Your job" in page.embed_text(), what="the member's view")
    assert "filler" not in page.embed_text() and f"<@{stranger.id}>" not in page.embed_text()


async def test_an_empty_queue_says_so_in_english_and_chinese(
    world: World, runtime: Runtime
) -> None:
    for user in (world.moderator, world.member):
        message = await queue(world, user)
        assert "The queue is empty: no job is running in this server." in message.embed_text()
        assert message.custom_ids() == ["atelier:queue:show:1"]
    message = await queue(world, world.moderator, locale="zh-CN")
    assert "队列是空的：本服务器没有正在进行的任务。" in message.embed_text()


async def test_the_pages_read_in_chinese(world: World, runtime: Runtime) -> None:
    store = store_of(runtime)
    await roomy(store, world)
    jobs = [await accept(runtime, world, world.member, f"fox {i}") for i in range(11)]
    page = await queue(world, world.moderator, locale="zh-CN")
    assert page.embeds[0]["title"] == "队列：11 个进行中的任务"
    assert footer(page) == "第 1 / 2 页 · 最早的在前"
    assert "等待开始" in lines(page)[0]
    assert page.component_by_label("下一页")["custom_id"] == NEXT.format(2)
    assert page.component_by_label(f"取消 #{jobs[0].id}")
    mine = await queue(world, world.member, locale="zh-CN")
    assert mine.embeds[0]["title"] == "你在队列中的位置"
    assert f"你的任务 #{jobs[0].id} 在本服务器的队列中排第 1 位，共 11 个。" in mine.embed_text()


async def test_paging_buttons_work_after_a_restart(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
) -> None:
    async with started(run_bot, make_bot, runtime_settings) as first:
        await roomy(first.store, world)
        # Held by the simulator: whatever the restart does with them, they stay active.
        jobs = [
            await accept(first.runtime, world, world.member, f"fox {i} [sim:hold=PENDING]")
            for i in range(11)
        ]
        page = await queue(world, world.moderator)
        assert footer(page) == "Page 1 of 2 · oldest first"
    async with started(run_bot, make_bot, runtime_settings) as second:
        click = await world.click(page, NEXT.format(2), user=world.moderator)
        await click.wait_response()
        await world.wait_for(lambda: footer(page) == "Page 2 of 2 · oldest first", what="page 2")
        assert lines(page)[0].startswith(f"**11.** #{jobs[10].id} ")
        click = await world.click(page, PREVIOUS.format(1), user=world.moderator)
        await click.wait_response()
        await world.wait_for(lambda: footer(page) == "Page 1 of 2 · oldest first", what="page 1")
        assert await second.store.get(jobs[0].id) is not None


async def test_a_moderators_cancel_by_command_is_audited_too(
    world: World, runtime: Runtime
) -> None:
    store = store_of(runtime)
    job = await accept(runtime, world, world.member)
    own = await accept(runtime, world, world.moderator)
    said = await answer(await world.slash("cancel", {"job": job.id}, user=world.moderator))
    assert said.content.startswith(f"Cancelled job #{job.id} of <@{world.member.id}>")
    await answer(await world.slash("cancel", {"job": own.id}, user=world.moderator))
    entries = [e for e in await store.audit_entries(world.guild.id) if e["action"] == "job.cancel"]
    assert [(e["actor_id"], e["target"]) for e in entries] == [
        (world.moderator.id, f"user:{world.member.id}")
    ]  # cancelling one's own job is no moderator action
