"""The job buttons end to end: Cancel on the progress card; Reroll, Variations, Animate,
Info and Delete under a result. Each click reads the job again and checks the clicker;
the buttons keep working after the bot restarts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord

from bot.discord_io.client import AtelierBot
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.settings import Settings
from simulator import Simulator
from tests.discord_world import InjectedInteraction, Member, Message, World
from tests.e2e.support import (
    App,
    card,
    delivered,
    job_id_of,
    job_when,
    refusal,
    settled,
    started,
)

S = JobState


async def new_card(ix: InjectedInteraction, app: App) -> Job:
    """The job whose card answered a click."""
    message = await card(ix)
    job = await app.store.get(job_id_of(message))
    assert job is not None
    return job


def other_member(world: World) -> Member:
    return world.add_member("someone-else")


async def running_job(world: World, app: App, prompt: str) -> tuple[Job, Message]:
    """A job that Max API keeps running until it is finished or cancelled, with its card."""
    ix = await world.slash("imagine", {"prompt": f"{prompt} [sim:hold]"})
    message = await card(ix)
    job_id = job_id_of(message)
    job = await job_when(app.store, job_id, lambda job: job.task_id is not None, within=10)
    return job, message


# -- Cancel ---------------------------------------------------------------------------------


async def test_cancel_is_for_the_owner_or_a_moderator(
    world: World, sim: Simulator, app: App
) -> None:
    job, message = await running_job(world, app, "a slow owl")
    button = f"atelier:cancel:{job.id}"

    stranger = await world.click(message, button, user=other_member(world))
    assert "not yours" in await refusal(stranger)
    assert (await app.store.get(job.id)).state.is_active

    click = await world.click(message, button)
    answer = await click.wait_followup()
    # Charged or not depends on how far Max API got (CANCEL_REFUNDS; test_job_commands).
    assert answer.ephemeral and answer.content.startswith("Cancelled.")
    assert (await settled(app.store, job.id)).state == S.CANCELLED
    assert job.task_id is not None and len(sim.cancels_for(job.task_id)) == 1
    await world.wait_for(
        lambda: "Cancelled" in message.embed_text() and not message.custom_ids(),
        what="the card to show the cancel",
    )

    other, other_card = await running_job(world, app, "another owl")
    click = await world.click(other_card, f"atelier:cancel:{other.id}", user=world.moderator)
    answer = await click.wait_followup()
    assert f"Cancelled job #{other.id} of <@{world.member.user.id}>" in answer.content
    assert (await settled(app.store, other.id)).state == S.CANCELLED


# -- Reroll, Variations, Animate ----------------------------------------------------------------


async def test_reroll_is_a_new_job_with_the_same_request_for_the_clicker(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox", "ratio": "9:16"})
    clicker = other_member(world)
    click = await world.click(result, f"atelier:reroll:{job.id}", user=clicker)
    again = await new_card(click, app)
    assert (again.parent_job_id, again.action) == (job.id, "reroll")
    assert again.user_id == clicker.user.id  # charged to whoever clicked
    assert (again.model, again.input) == (job.model, job.input)
    done = await settled(app.store, again.id)
    assert done.state == S.DELIVERED
    first, second = (s.body for s in sim.submissions)
    assert (first["model"], first["input"]) == (second["model"], second["input"])
    assert second["user_id"] == str(clicker.user.id)


async def test_variations_start_from_the_result_image(world: World, app: App) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox", "ratio": "16:9"})
    click = await world.click(result, f"atelier:vary:{job.id}")
    vary = await new_card(click, app)
    assert (vary.parent_job_id, vary.action, vary.model) == (job.id, "vary", "nano-banana-2")
    assert vary.image_urls == job.result_urls  # Max API's URL, not a re-upload
    assert vary.input["imageUrls"] == job.result_urls and vary.input["ratio"] == "16:9"
    assert (await settled(app.store, vary.id)).state == S.DELIVERED


async def test_variations_of_grok_switch_to_its_image_model(world: World, app: App) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox", "count": 1}, command="grok")
    assert job.model == "grok-imagine/text-to-image-lite"
    click = await world.click(result, f"atelier:vary:{job.id}")
    vary = await new_card(click, app)
    assert vary.model == "grok-imagine/image-to-image"
    assert "n" not in vary.input  # the image model makes one image and refuses n


async def test_variations_of_a_gallery_ask_which_image(world: World, app: App) -> None:
    job, result = await delivered(
        world, app, {"prompt": "two foxes", "count": 2}, command="seedream"
    )
    assert len(job.result_urls) == 2
    click = await world.click(result, f"atelier:vary:{job.id}")
    await click.wait_response()
    picker = click.original
    assert picker is not None and picker.ephemeral
    (select,) = [c for c in picker.buttons() if c.get("type") == 3]
    assert [o["value"] for o in select["options"]] == ["0", "1"]
    chosen = await world.click(picker, select["custom_id"], values=["1"])
    vary = await new_card(chosen, app)
    assert vary.image_urls == [job.result_urls[1]]
    assert vary.model == "seedream-5-lite" and vary.input["n"] == 2
    await world.wait_for(
        lambda: f"Started job #{vary.id}" in picker.content, what="the picker to close"
    )


async def animate_picker(
    world: World, result: Message, job: Job, motion: str = ""
) -> tuple[Message, dict[str, Any]]:
    """Click Animate, say how it should move in the modal; the private picker and its
    video model select."""
    click = await world.click(result, f"atelier:animate:{job.id}")
    opened = await click.wait_response()
    assert opened.type == 9 and opened.data is not None  # a modal first
    assert opened.data["title"] == f"Animate job #{job.id}"
    submitted = await world.submit_modal(click, {"motion": motion})
    await submitted.wait_response()
    picker = submitted.original
    assert picker is not None and picker.ephemeral
    (select,) = [c for c in picker.buttons() if c.get("type") == 3]
    return picker, select


async def test_animate_asks_how_it_moves_offers_video_models_then_makes_a_video(
    world: World, sim: Simulator, app: App
) -> None:
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=0.0)  # not asked
    job, result = await delivered(world, app, {"prompt": "a fox runs [sim:seconds=3]"})
    picker, select = await animate_picker(world, result, job, "the fox leaps [sim:seconds=3]")
    offered = [o["value"] for o in select["options"]]
    assert {"veo3", "veo3_fast", "grok-imagine/image-to-video", "seedance-2.0"} <= set(offered)
    assert "grok-imagine/text-to-video" not in offered  # needs no image: not an animator
    chosen = await world.click(picker, select["custom_id"], values=["veo3_fast"])
    video = await new_card(chosen, app)
    assert (video.media, video.model, video.action) == ("video", "veo3_fast", "animate")
    assert video.input["imageUrls"] == job.result_urls
    assert video.prompt == "the fox leaps [sim:seconds=3]"  # the motion prompt
    done = await settled(app.store, video.id)
    assert done.state == S.DELIVERED
    assert sim.submissions[-1].body["input"]["prompt"] == "the fox leaps [sim:seconds=3]"
    posted = world.message(done.result_message_ids[0])
    assert posted.files[0].filename.endswith(".mp4")
    actions = ("reroll", "remix", "info", "delete", "report")
    assert posted.custom_ids() == [f"atelier:{a}:{video.id}" for a in actions]


async def test_animate_with_no_motion_keeps_the_images_prompt(world: World, app: App) -> None:
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=0.0)  # not asked
    job, result = await delivered(world, app, {"prompt": "a fox runs [sim:seconds=3]"})
    picker, select = await animate_picker(world, result, job, "   ")
    chosen = await world.click(picker, select["custom_id"], values=["veo3_fast"])
    video = await new_card(chosen, app)
    assert (video.prompt, video.parent_job_id) == (job.prompt, job.id)


async def test_animate_above_the_cost_threshold_waits_for_confirm(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox"})
    picker, select = await animate_picker(world, result, job, "the fox turns its head")
    chosen = await world.click(picker, select["custom_id"], values=["veo3"])
    await chosen.wait_response()
    question = chosen.original
    assert question is not None and question.ephemeral
    (confirm,) = [c for c in question.custom_ids() if c.startswith("atelier:confirm:")]
    held = int(confirm.rsplit(":", 1)[1])
    await world.wait_for(
        lambda: f"Job #{held} waits for your Confirm below." in picker.content,
        what="the picker to point at the question",
    )
    assert len(sim.submissions) == 1  # nothing sent before Confirm


# -- Info, Delete ----------------------------------------------------------------------------------


async def test_info_is_private_and_complete(world: World, app: App) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox", "ratio": "16:9"})
    click = await world.click(result, f"atelier:info:{job.id}", user=other_member(world))
    text = await refusal(click)  # an ephemeral embed, like refusals
    for words in (f"Job #{job.id}", "nano-banana-2", "ratio 16:9", "$0.10", "Done", job.task_id):
        assert words is not None and words in text


async def test_delete_is_for_the_owner_or_a_moderator(world: World, app: App) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox"})
    stranger = await world.click(result, f"atelier:delete:{job.id}", user=other_member(world))
    assert "Only the member who made" in await refusal(stranger)
    assert not result.deleted
    click = await world.click(result, f"atelier:delete:{job.id}", user=world.moderator)
    answer = await click.wait_followup()
    assert answer.ephemeral and "Deleted" in answer.content
    assert result.deleted
    assert (await app.store.get(job.id)).state == S.DELIVERED

    mine, my_result = await delivered(world, app, {"prompt": "a hare"})
    click = await world.click(my_result, f"atelier:delete:{mine.id}")
    await click.wait_followup()
    assert my_result.deleted


async def test_delete_removes_only_the_jobs_own_messages(world: World, app: App) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox"})
    # A message of the bot's with this job's Delete button that is not one of the job's
    # (a /show re-post made while re-posts still carried Delete).
    button = {"type": 2, "style": 2, "label": "Delete", "custom_id": f"atelier:delete:{job.id}"}
    stray = world.new_message(
        world.channel,
        author=world.bot_user,
        kind="channel",
        payload={
            "content": "an older re-post",
            "components": [{"type": 1, "components": [button]}],
        },
        files=[],
    )
    click = await world.click(stray, f"atelier:delete:{job.id}")
    assert "not one of job" in await refusal(click)
    assert not stray.deleted and not result.deleted

    click = await world.click(result, f"atelier:delete:{job.id}")
    await click.wait_followup()
    assert result.deleted and not stray.deleted


# -- every click checks again ---------------------------------------------------------------------


async def test_clicks_check_the_job_the_channel_and_the_clicker_again(
    world: World, sim: Simulator, app: App
) -> None:
    job, result = await delivered(world, app, {"prompt": "a fox"})
    before = await app.store.count_by_state()

    # Max API dropped the files, and no posted copy is recorded (tests/e2e/test_expired_links.py)
    await app.store.update(job.id, result_expires_at=1.0, result_message_ids=[])
    click = await world.click(result, f"atelier:vary:{job.id}")
    assert "expired" in await refusal(click)
    click = await world.click(result, f"atelier:animate:{job.id}")
    assert "expired" in await refusal(click)  # before the modal

    blocked = other_member(world)
    await app.store.block(world.guild.id, blocked.user.id, "spam", None, world.moderator.user.id)
    click = await world.click(result, f"atelier:reroll:{job.id}", user=blocked)
    assert "blocked" in await refusal(click)

    world.set_bot_deny(world.channel, discord.Permissions(attach_files=True).value)
    click = await world.click(result, f"atelier:reroll:{job.id}")
    assert "Attach Files" in await refusal(click)

    assert await app.store.count_by_state() == before  # nothing was recorded
    assert len(sim.submissions) == 1


async def test_buttons_keep_working_after_a_restart(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
) -> None:
    async with started(run_bot, make_bot, runtime_settings) as first:
        job, result = await delivered(world, first, {"prompt": "a fox"})
        held, held_card = await running_job(world, first, "a slow owl")
    async with started(run_bot, make_bot, runtime_settings) as second:
        click = await world.click(result, f"atelier:info:{job.id}")
        assert f"Job #{job.id}" in await refusal(click)
        click = await world.click(result, f"atelier:reroll:{job.id}")
        again = await new_card(click, second)
        assert again.parent_job_id == job.id
        assert (await settled(second.store, again.id)).state == S.DELIVERED
        click = await world.click(held_card, f"atelier:cancel:{held.id}")
        answer = await click.wait_followup()
        assert "Cancelled" in answer.content
        assert (await settled(second.store, held.id)).state == S.CANCELLED
        await world.wait_for(
            lambda: "Cancelled" in held_card.embed_text(), what="the old card to be edited"
        )
