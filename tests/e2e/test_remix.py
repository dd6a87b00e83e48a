"""Remix end to end: the button under every result opens a modal with the job's prompt
and main options prefilled; submitting it starts a new job for whoever submitted, with
the same model, images and style; bad values and an empty prompt cost nothing."""

from __future__ import annotations

from typing import Any

import discord

from bot.domain.job import Job
from bot.domain.job_states import JobState
from simulator import Simulator
from tests.discord_world import InjectedInteraction, Message, World
from tests.discord_world.modals import text_inputs
from tests.e2e.support import App, card, delivered, job_id_of, refusal, settled

S = JobState


async def open_remix(world: World, result: Message, job: Job, **kwargs: Any) -> InjectedInteraction:
    """Click Remix; the answer is a modal."""
    click = await world.click(result, f"atelier:remix:{job.id}", **kwargs)
    assert (await click.wait_response()).type == 9
    return click


def prefilled(click: InjectedInteraction) -> dict[str, str | None]:
    """The modal's inputs by custom id, with the text each one holds."""
    data = click.response.data
    assert data is not None
    return {f["custom_id"]: f.get("value") for _, f in text_inputs(data["components"])}


async def new_job(ix: InjectedInteraction, app: App) -> Job:
    job = await app.store.get(job_id_of(await card(ix)))
    assert job is not None
    return job


async def test_remix_opens_the_prompt_and_starts_a_new_job_for_the_submitter(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox", "ratio": "16:9"})
    assert f"atelier:remix:{job.id}" in result.custom_ids()
    assert result.custom_ids()[-2:] == [f"atelier:delete:{job.id}", f"atelier:report:{job.id}"]
    clicker = world.add_member("remixer")
    click = await open_remix(world, result, job, user=clicker)
    modal = click.response.data
    assert modal is not None and modal["title"] == f"Remix job #{job.id}"
    assert prefilled(click) == {"prompt": "a fox", "ratio": "16:9", "resolution": None}

    submitted = await world.submit_modal(click, {"prompt": "a fox in the snow", "ratio": "1:1"})
    remix = await new_job(submitted, app)
    assert (remix.parent_job_id, remix.action) == (job.id, "remix")
    assert remix.user_id == clicker.user.id  # charged to whoever submitted
    assert (remix.model, remix.prompt) == (job.model, "a fox in the snow")
    assert remix.options == {"ratio": "1:1"}
    assert remix.input["prompt"] == "a fox in the snow" and remix.input["ratio"] == "1:1"
    assert (await settled(app.store, remix.id)).state == S.DELIVERED
    assert sim.submissions[-1].body["user_id"] == str(clicker.user.id)


async def test_two_members_remixing_one_result_at_once_each_get_their_job(
    world: World, app: App
) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox"})
    first, second = world.add_member("first"), world.add_member("second")
    opened_first = await open_remix(world, result, job, user=first)
    opened_second = await open_remix(world, result, job, user=second)
    one = await new_job(await world.submit_modal(opened_first, {"prompt": "a red fox"}), app)
    two = await new_job(await world.submit_modal(opened_second, {"prompt": "a grey fox"}), app)
    assert (one.user_id, one.prompt) == (first.user.id, "a red fox")
    assert (two.user_id, two.prompt) == (second.user.id, "a grey fox")


async def test_remix_keeps_what_was_not_changed_and_reuses_the_images(
    world: World, app: App
) -> None:
    job, result = await delivered(world, app, {"prompt": "two cats", "count": 2}, "seedream")
    source = job.result_urls[:1]  # an input image, as if the job had been given one
    await app.store.update(job.id, image_urls=source, style="Ink")
    click = await open_remix(world, result, job)
    submitted = await world.submit_modal(click, {"prompt": "two cats dancing"})
    remix = await new_job(submitted, app)
    assert remix.image_urls == source and remix.input["imageUrls"] == source
    assert remix.style == "Ink"
    assert remix.options == {"count": 2} and remix.input["n"] == 2


async def test_bad_values_and_an_empty_prompt_are_refused_and_cost_nothing(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox"})
    before = await app.store.count_by_state()

    click = await open_remix(world, result, job)
    bad = await world.submit_modal(click, {"ratio": "7:3"})
    said = await refusal(bad)
    assert "'7:3'" in said and "16:9, 9:16, 1:1, 4:3, 3:4" in said

    click = await open_remix(world, result, job)
    empty = await world.submit_modal(click, {"prompt": "   "})
    assert "Write a prompt to remix with." in await refusal(empty)

    await app.store.update(job.id, model="a-model-long-gone")
    click = await world.click(result, f"atelier:remix:{job.id}")
    assert "Unknown model" in await refusal(click)  # refused at the click, no modal

    assert await app.store.count_by_state() == before
    assert len(sim.submissions) == 1


async def test_remix_of_a_video_offers_its_duration(world: World, app: App) -> None:
    # Not about the cost confirmation (test_confirm): a video runs without asking.
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=0.0)
    options = {"prompt": "a fox runs [sim:seconds=3]", "model": "veo3_fast", "duration": 6}
    job, result = await delivered(world, app, options, "video")
    assert f"atelier:remix:{job.id}" in result.custom_ids()
    click = await open_remix(world, result, job)
    assert prefilled(click) == {
        "prompt": "a fox runs [sim:seconds=3]",
        "ratio": None,
        "resolution": None,
        "duration": "6",
    }
    submitted = await world.submit_modal(click, {"duration": "4"})
    remix = await new_job(submitted, app)
    assert (remix.media, remix.model, remix.prompt) == ("video", "veo3_fast", job.prompt)
    assert remix.input["duration"] == 4


async def test_a_paused_model_is_refused_at_the_click_and_at_the_submit(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox"})
    before = await app.store.count_by_state()
    opened = await open_remix(world, result, job)  # opened before the pause

    pause = {"model": job.model, "reason": "Too expensive this week."}
    await (await world.slash("settings models pause", pause, user=world.moderator)).wait_response()
    said = f"Moderators paused `{job.model}` in this server: Too expensive this week."
    click = await world.click(result, f"atelier:remix:{job.id}")
    assert said in await refusal(click)  # no modal
    late = await world.submit_modal(opened, {"prompt": "a fox in the rain"})
    assert said in await refusal(late)

    assert await app.store.count_by_state() == before
    assert len(sim.submissions) == 1


async def test_a_blocked_member_and_a_channel_the_bot_cannot_post_in_are_refused(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox"})
    before = await app.store.count_by_state()
    blocked = world.add_member("blocked")
    opened = await open_remix(world, result, job, user=blocked)
    await app.store.block(world.guild.id, blocked.user.id, "spam", None, world.moderator.user.id)
    submitted = await world.submit_modal(opened, {"prompt": "a fox, again"})
    assert "blocked" in await refusal(submitted)

    world.set_bot_deny(world.channel, discord.Permissions(attach_files=True).value)
    click = await world.click(result, f"atelier:remix:{job.id}")
    assert "Attach Files" in await refusal(click)  # before the member writes anything

    assert await app.store.count_by_state() == before
    assert len(sim.submissions) == 1
