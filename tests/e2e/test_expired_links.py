"""Inputs and results that keep working: a follow-up renews a Discord attachment link that
has expired (or will within 10 minutes) before Max API gets it; once Max API's result
links have expired, Variations, Animate and /show use the bot's own posted copy."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from bot.domain.job import Job
from bot.domain.job_states import JobState
from simulator import Simulator
from tests.discord_world import InjectedInteraction, Message, World
from tests.e2e.support import App, card, job_id_of, refusal, run_to_the_end, settled

S = JobState
DAY = 24 * 3600
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
REFRESH = "POST /attachments/refresh-urls"


def advance(world: World, app: App, seconds: float) -> None:
    """Time passes for Discord's links, and the bot reads them by the same clock."""
    world.clock.advance(seconds)
    app.bot.services.link_clock = world.clock.wall


def expiry(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["ex"][0], 16)


async def fetch(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


async def with_image(world: World, app: App, prompt: str = "like this") -> tuple[Job, Message]:
    image = world.attachment("cat.png", PNG, content_type="image/png")
    ix = await world.slash("imagine", {"prompt": prompt, "image": image})
    job, result = await run_to_the_end(world, app, ix)
    assert job.image_urls == [image.url]
    return job, result


async def new_job(ix: InjectedInteraction, app: App) -> Job:
    job = await settled(app.store, job_id_of(await card(ix)))
    assert job.state == S.DELIVERED, job.failure_message
    return job


# -- Reroll: input links renewed ----------------------------------------------------------


async def test_reroll_renews_an_expired_input_link(world: World, sim: Simulator, app: App) -> None:
    job, result = await with_image(world, app)
    old = job.image_urls[0]
    advance(world, app, DAY + 3600)
    assert (await fetch(old))[0] == 404  # Discord refuses the stored link now

    again = await new_job(await world.click(result, f"atelier:reroll:{job.id}"), app)
    (fresh,) = again.image_urls
    assert fresh != old and expiry(fresh) > world.clock.wall() + DAY - 60
    assert sim.submissions[-1].body["input"]["imageUrls"] == [fresh]
    assert await fetch(fresh) == (200, PNG)  # Max API can read what it was sent
    assert len(world.requests_to(REFRESH)) == 1


async def test_a_link_within_ten_minutes_of_expiry_is_renewed(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await with_image(world, app)
    old = job.image_urls[0]
    advance(world, app, DAY - 5 * 60)
    assert (await fetch(old))[0] == 200  # still works, but not for long

    again = await new_job(await world.click(result, f"atelier:reroll:{job.id}"), app)
    assert expiry(again.image_urls[0]) > expiry(old)
    assert sim.submissions[-1].body["input"]["imageUrls"] == again.image_urls


async def test_a_fresh_link_and_a_link_that_is_not_discords_are_untouched(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await with_image(world, app)
    again = await new_job(await world.click(result, f"atelier:reroll:{job.id}"), app)
    assert again.image_urls == job.image_urls  # a day left: no renewal
    vary = await new_job(await world.click(result, f"atelier:vary:{job.id}"), app)
    assert vary.image_urls == job.result_urls  # Max API's link

    advance(world, app, DAY + 3600)
    vary_result = world.message(vary.result_message_ids[-1])
    rerolled = await new_job(await world.click(vary_result, f"atelier:reroll:{vary.id}"), app)
    assert rerolled.image_urls == job.result_urls  # not Discord's: sent as it was
    assert not world.requests_to(REFRESH)


async def test_an_input_whose_message_was_deleted_is_refused_and_costs_nothing(
    world: World, sim: Simulator, app: App
) -> None:
    _, source_result = await with_image(world, app, "the source")
    job, result = await with_image(world, app, "uses the source's result")
    posted = source_result.files[0].url  # an image the bot posted, used as an input
    await app.store.update(job.id, image_urls=[posted])
    world.delete_message(source_result)
    advance(world, app, DAY + 3600)
    submitted = len(sim.submissions)
    counts = await app.store.count_by_state()

    click = await world.click(result, f"atelier:reroll:{job.id}")
    assert "no longer on Discord (its message was deleted)" in await refusal(click)
    assert "Nothing was charged" in await refusal(click)
    assert await app.store.count_by_state() == counts  # no job was accepted
    assert len(sim.submissions) == submitted
    assert len(world.requests_to(REFRESH)) == 1


# -- Variations, Animate, /show: the posted copy ------------------------------------------


async def expired_result(world: World, app: App, prompt: str) -> tuple[Job, Message]:
    """A delivered image job whose Max API links expired (Max API keeps them 7 days)."""
    ix = await world.slash("imagine", {"prompt": prompt})
    job, result = await run_to_the_end(world, app, ix)
    job = await app.store.update(job.id, result_expires_at=time.time() - 60)
    return job, result


def same_file(url: str, posted: Any) -> bool:
    """``url`` is a (possibly re-signed) link to the world's file ``posted``."""
    return urlsplit(url).path == urlsplit(posted.url).path


async def test_variations_of_an_expired_result_use_the_posted_copy(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await expired_result(world, app, "a fox")
    vary = await new_job(await world.click(result, f"atelier:vary:{job.id}"), app)
    (url,) = vary.image_urls
    assert url not in job.result_urls and same_file(url, result.files[0])
    assert sim.submissions[-1].body["input"]["imageUrls"] == [url]
    assert await fetch(url) == (200, result.files[0].data)


async def test_animate_of_an_expired_result_uses_the_posted_copy(
    world: World, sim: Simulator, app: App
) -> None:
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=100.0)  # no Confirm
    job, result = await expired_result(world, app, "a fox runs [sim:seconds=3]")
    click = await world.click(result, f"atelier:animate:{job.id}")
    if (await click.wait_response()).type == 9:  # a motion modal first, where there is one
        click = await world.submit_modal(click, {"motion": ""})
        await click.wait_response()
    picker = click.original
    assert picker is not None and picker.ephemeral
    (select,) = [c for c in picker.buttons() if c.get("type") == 3]
    chosen = await world.click(picker, select["custom_id"], values=["veo3_fast"])
    video = await new_job(chosen, app)
    (url,) = video.image_urls
    assert same_file(url, result.files[0])
    assert sim.submissions[-1].body["input"]["imageUrls"] == [url]


async def test_show_of_an_expired_result_posts_the_posted_copy(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await expired_result(world, app, "an old owl")
    posted = result.files[0]
    reads = len(posted.fetches)
    ix = await world.slash("show", {"job": job.id})
    await ix.wait_response()
    done = await ix.wait_original(lambda m: not m.loading)
    assert f"Posted job #{job.id} again" in done.content
    again = await world.wait_for_message(
        world.channel, lambda m: m.id != result.id and bool(m.files), kind="channel"
    )
    assert again.content.startswith(f"-# shown again by <@{world.member.user.id}>")
    assert again.files[0].data == posted.data
    assert len(posted.fetches) == reads + 1  # read from Discord, not from Max API


async def test_once_the_posted_copy_is_deleted_too_the_result_cannot_be_used(
    world: World, sim: Simulator, app: App
) -> None:
    ix = await world.slash("imagine", {"prompt": "a lost fox"})
    job, result = await run_to_the_end(world, app, ix)
    shown = await world.slash("show", {"job": job.id})  # a re-post, with the buttons
    await shown.wait_response()
    repost = await world.wait_for_message(
        world.channel, lambda m: m.id != result.id and bool(m.files), kind="channel"
    )
    assert f"atelier:vary:{job.id}" in repost.custom_ids()
    world.delete_message(result)  # the job's own result message is gone
    await app.store.update(job.id, result_expires_at=time.time() - 60)
    counts, submitted = await app.store.count_by_state(), len(sim.submissions)
    gone = (
        f"The result of job #{job.id} expired and its message was deleted, so it can't be "
        "used any more. Use Reroll."
    )
    assert gone in await refusal(await world.click(repost, f"atelier:vary:{job.id}"))
    assert gone in await refusal(await world.click(repost, f"atelier:animate:{job.id}"))
    again = await world.slash("show", {"job": job.id})
    await again.wait_response()
    refused = await again.wait_original(lambda m: not m.loading)
    assert refused.ephemeral and gone in refused.embed_text()
    assert await app.store.count_by_state() == counts  # nothing accepted, nothing charged
    assert len(sim.submissions) == submitted
