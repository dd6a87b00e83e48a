"""Reports end to end: the Report button under a result hides it behind spoilers and asks
the moderators in the audit channel, once per member; Keep shows it again, Remove deletes it
for good (``/show`` refuses it); only moderators decide, once; the buttons outlive a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.discord_io.client import AtelierBot
from bot.domain.job import Job
from bot.settings import Settings
from tests.discord_world import Channel, InjectedInteraction, Message, World
from tests.e2e.support import App, answer, refusal, run_to_the_end, spoilers, started


async def delivered(world: World, app: App, prompt: str = "a fox") -> tuple[Job, Message]:
    return await run_to_the_end(world, app, await world.slash("imagine", {"prompt": prompt}))


async def with_audit_channel(world: World, app: App) -> Channel:
    modlog = world.add_channel("mod-log")
    await app.store.update_guild_config(world.guild.id, audit_channel_id=modlog.id)
    return modlog


async def review_post(world: World, channel: Channel, job: Job) -> Message:
    return await world.wait_for_message(
        channel, lambda m: f"atelier:keep:{job.id}" in m.custom_ids(), kind="channel"
    )


async def said(ix: InjectedInteraction) -> str:
    """A private answer: its text, or its embed's."""
    message = await answer(ix)
    assert message.ephemeral
    return message.content or message.embed_text()


async def test_a_report_hides_the_result_and_asks_the_moderators_once(
    world: World, app: App
) -> None:
    modlog = await with_audit_channel(world, app)
    job, result = await delivered(world, app, "a fox in a *hat*")
    assert f"atelier:report:{job.id}" in result.custom_ids()
    assert spoilers(result) == [False]
    reporter = world.add_member("reporter")

    click = await world.click(result, f"atelier:report:{job.id}", user=reporter)
    assert "hidden behind a spoiler, and the moderators will decide" in await said(click)
    assert spoilers(result) == [True]
    assert result.content.startswith(f"<@{job.user_id}>")  # the rest of the post stays

    review = await review_post(world, modlog, job)
    text = review.embed_text()
    for words in (f"job #{job.id}", f"<@{reporter.id}>", f"<@{job.user_id}>", "a fox in a"):
        assert words in text, text
    jump = f"https://discord.com/channels/{world.guild.id}/{world.channel.id}/{result.id}"
    assert jump in text
    assert review.custom_ids() == [f"atelier:keep:{job.id}", f"atelier:remove:{job.id}"]
    assert review.allowed_mentions == {"parse": []}  # names people, pings nobody

    again = await world.click(result, f"atelier:report:{job.id}", user=reporter)
    assert "You already reported this result." in await refusal(again)
    other = await world.click(result, f"atelier:report:{job.id}", user=world.add_member("b"))
    assert "already hidden and waiting" in await said(other)
    await world.settle()
    posts = [m for m in world.messages(modlog) if m.custom_ids()]
    assert len(posts) == 1  # one review per result
    assert await app.store.report_count(job.id) == 2


async def test_only_moderators_decide_and_only_once(world: World, app: App) -> None:
    modlog = await with_audit_channel(world, app)
    job, result = await delivered(world, app)
    await answer(await world.click(result, f"atelier:report:{job.id}"))
    review = await review_post(world, modlog, job)

    member = await world.click(review, f"atelier:keep:{job.id}", user=world.member)
    assert "Only moderators (Manage Server) can decide on a report." in await refusal(member)
    assert spoilers(result) == [True] and review.custom_ids()

    # Two moderators at once: one decision, the other changes nothing.
    await world.settle()
    keep, remove = await asyncio.gather(
        world.click(review, f"atelier:keep:{job.id}", user=world.moderator, settle=False),
        world.click(review, f"atelier:remove:{job.id}", user=world.owner, settle=False),
    )
    answers = sorted([await said(keep), await said(remove)])
    kept = answers[0].startswith("Kept")
    if kept:
        assert answers == [f"Kept: the result of job #{job.id} is shown again.", answers[1]]
        assert answers[1] == "This report was already decided: the result was kept."
        assert not result.deleted and spoilers(result) == [False]
    else:
        assert answers[0] == f"Removed: the result of job #{job.id} was deleted."
        assert answers[1] == "This report was already decided: the result was removed."
        assert result.deleted
    await world.wait_for(lambda: not review.custom_ids(), what="the review's buttons to go")
    assert ("Kept by" if kept else "Removed by") in review.embed_text()
    entries = [e["action"] for e in await app.store.audit_entries(world.guild.id)]
    assert entries.count("report.keep") + entries.count("report.remove") == 1


async def test_remove_deletes_the_result_for_good(world: World, app: App) -> None:
    modlog = await with_audit_channel(world, app)
    job, result = await delivered(world, app)
    await answer(await world.click(result, f"atelier:report:{job.id}", user=world.add_member("r")))

    pending = await world.slash("show", {"job": job.id})
    assert "waits for a moderator's decision" in await said(pending)

    review = await review_post(world, modlog, job)
    click = await world.click(review, f"atelier:remove:{job.id}", user=world.moderator)
    assert await said(click) == f"Removed: the result of job #{job.id} was deleted."
    assert result.deleted
    assert "Removed by" in review.embed_text() and not review.custom_ids()

    shown = await world.slash("show", {"job": job.id})
    assert "Moderators removed the result" in await said(shown)
    # The member who made it is told nothing beyond the decision in the audit channel.
    to_member = [
        m
        for m in world.messages(kind="channel")
        if m.channel_id != modlog.id and m.id != result.id and f"<@{job.user_id}>" in m.content
    ]
    assert to_member == []


async def test_without_an_audit_channel_the_result_is_still_hidden(world: World, app: App) -> None:
    job, result = await delivered(world, app)
    click = await world.click(result, f"atelier:report:{job.id}", user=world.add_member("r"))
    assert "This server has no audit channel, so no moderator was told" in await said(click)
    assert spoilers(result) == [True]
    review = await app.store.review(job.id)
    assert review is not None and review["state"] == "pending" and review["message_id"] is None


async def test_the_review_buttons_work_after_a_restart(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
) -> None:
    async with started(run_bot, make_bot, runtime_settings) as first:
        modlog = await with_audit_channel(world, first)
        job, result = await delivered(world, first)
        await answer(await world.click(result, f"atelier:report:{job.id}"))
        review = await review_post(world, modlog, job)
    async with started(run_bot, make_bot, runtime_settings):
        click = await world.click(review, f"atelier:keep:{job.id}", user=world.moderator)
        assert await said(click) == f"Kept: the result of job #{job.id} is shown again."
        assert spoilers(result) == [False] and not review.custom_ids()
        again = await world.click(result, f"atelier:report:{job.id}")
        assert "You already reported this result." in await refusal(again)


async def test_a_result_posted_as_a_link_is_hidden_and_shown_again(world: World, app: App) -> None:
    modlog = await with_audit_channel(world, app)
    world.set_upload_limit(100)  # the result becomes a link to Max API's file
    job, result = await delivered(world, app)
    (url,) = job.result_urls
    assert result.files == [] and url in result.content and f"||{url}||" not in result.content

    await answer(await world.click(result, f"atelier:report:{job.id}"))
    assert f"||{url}||" in result.content
    review = await review_post(world, modlog, job)
    await answer(await world.click(review, f"atelier:keep:{job.id}", user=world.moderator))
    assert url in result.content and f"||{url}||" not in result.content
