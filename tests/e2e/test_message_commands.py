"""The message commands end to end: "Edit with Atelier" and "Animate with Atelier" on any
message's images (a member's, the bot's own result), through the modal and the model
picker, as a new job charged to the member who ran the command."""

from __future__ import annotations

from bot.domain.job import Job
from bot.domain.job_states import JobState
from tests.discord_world import Attachment, InjectedInteraction, Message, World
from tests.e2e.support import App, card, job_id_of, refusal, run_to_the_end, settled

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def photo(world: World, name: str) -> Attachment:
    return world.attachment(name, PNG, content_type="image/png", width=64, height=64)


async def run(
    world: World, app: App, name: str, message: Message, prompt: str, model: str
) -> tuple[Job, InjectedInteraction]:
    """Run the command, fill the modal, pick ``model``: the job and the picker's answer."""
    ix = await world.message_command(name, message)
    assert (await ix.wait_response()).type == 9  # a modal
    submitted = await world.submit_modal(ix, {"prompt": prompt})
    await submitted.wait_response()
    picker = submitted.original
    assert picker is not None and picker.ephemeral
    (select,) = [c for c in picker.buttons() if c.get("type") == 3]
    assert model in [o["value"] for o in select["options"]]
    chosen = await world.click(picker, select["custom_id"], values=[model])
    answered = await chosen.wait_response()
    assert chosen.original is not None
    assert not answered.ephemeral, chosen.original.embed_text()
    job = await app.store.get(job_id_of(await card(chosen)))
    assert job is not None
    return job, submitted


async def test_edit_uses_every_image_of_a_members_message_in_order(world: World, app: App) -> None:
    first, second = photo(world, "a.png"), photo(world, "b.png")
    linked = photo(world, "c.png")  # served by the local Discord: nothing leaves 127.0.0.1
    embed = {"type": "rich", "image": {"url": linked.url}}
    message = world.say(world.moderator, "look", files=[first, second], embeds=[embed])
    job, _ = await run(world, app, "Edit with Atelier", message, "make it night", "nano-banana-2")
    urls = [f.url.split("?")[0] for f in message.files] + [linked.url.split("?")[0]]
    assert [u.split("?")[0] for u in job.image_urls] == urls  # attachments, then embeds
    assert job.user_id == world.member.user.id and job.prompt == "make it night"
    assert job.media == "image"


async def test_edit_works_on_the_bots_own_result(world: World, app: App) -> None:
    ix = await world.slash("imagine", {"prompt": "a fox"})
    _done, result = await run_to_the_end(world, app, ix)
    job, _ = await run(world, app, "Edit with Atelier", result, "a red fox", "nano-banana-2")
    assert (
        len(job.image_urls) == 1
        and job.image_urls[0].split("?")[0] == (result.files[0].url.split("?")[0])
    )
    assert (await settled(app.store, job.id)).state == JobState.DELIVERED


async def test_more_images_than_the_model_takes_uses_the_first_ones(world: World, app: App) -> None:
    files = [photo(world, f"{n}.png") for n in range(4)]
    message = world.say(world.moderator, "four", files=files)
    job, submitted = await run(
        world, app, "Edit with Atelier", message, "blend", "grok-imagine/image-to-image"
    )
    assert len(job.image_urls) == 2
    await submitted.wait_original(lambda m: "Used the first 2 of 4 images" in m.content)


async def test_a_message_without_an_image_is_refused_privately(world: World, app: App) -> None:
    text_file = world.attachment("notes.txt", b"hi", content_type="text/plain")
    message = world.say(world.moderator, "no picture here", files=[text_file])
    ix = await world.message_command("Edit with Atelier", message)
    assert "This message has no image to use." in await refusal(ix)
    assert ix.response.type == 4  # no modal: refused at once
    assert await app.store.get(1) is None  # no job, nothing reserved


async def test_animate_makes_a_video_and_an_empty_motion_prompt_has_a_default(
    world: World, app: App
) -> None:
    message = world.say(world.moderator, "pose", files=[photo(world, "p.png")])
    model = "grok-imagine/image-to-video"
    job, _ = await run(world, app, "Animate with Atelier", message, "", model)
    assert job.media == "video" and job.model == model
    assert job.prompt == "Animate this image" and len(job.image_urls) == 1


async def test_a_blocked_member_is_refused_and_nothing_is_charged(world: World, app: App) -> None:
    await app.store.block(world.guild.id, world.member.id, "spam", None, world.moderator.id)
    message = world.say(world.moderator, "look", files=[photo(world, "a.png")])
    ix = await world.message_command("Edit with Atelier", message)
    await ix.wait_response()
    submitted = await world.submit_modal(ix, {"prompt": "night"})
    await submitted.wait_response()
    picker = submitted.original
    assert picker is not None
    (select,) = [c for c in picker.buttons() if c.get("type") == 3]
    chosen = await world.click(picker, select["custom_id"], values=["nano-banana-2"])
    text = await refusal(chosen)
    assert "blocked" in text.lower()
    assert not [m for m in world.messages(kind="response") if m.custom_ids() and not m.ephemeral]
