"""``/imagine``, ``/video`` and the family commands, end to end: real discord.py against
the local Discord, the Max API simulator, SQLite and the delivery loop, wired by
:class:`bot.runtime.Runtime` as ``python -m bot`` wires them.

A command is answered with a progress card before anything leaves the machine; the
card is edited in place until the result arrives under it. A refusal is ephemeral,
says what to do, records nothing and sends nothing to Max API.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import discord
import pytest

from bot.discord_io.client import AtelierBot
from bot.domain.job_states import JobState
from bot.settings import Settings
from simulator import Simulator
from tests.discord_world import World
from tests.e2e.support import (
    FAST,
    App,
    card,
    job_id_of,
    job_when,
    refusal,
    run_to_the_end,
    settled,
    started,
)

S = JobState
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def png(world: World, name: str = "cat.png", **kwargs: Any) -> Any:
    kwargs.setdefault("content_type", "image/png")
    return world.attachment(name, PNG, **kwargs)


# -- the command surface ----------------------------------------------------------------


async def test_every_generation_command_is_synced_with_its_options(world: World, app: App) -> None:
    assert {
        "imagine",
        "video",
        "seedream",
        "nanobanana",
        "gptimage",
        "jimeng",
        "grok",
        "veo",
        "seedance",
    } <= set(world.command_names())
    imagine = world.command("imagine")
    assert [o["name"] for o in imagine["options"]] == [
        "prompt",
        "model",
        "ratio",
        "resolution",
        "count",
        "image",
        "image2",
        "style",
        *(f"image{n}" for n in range(3, 11)),  # issue 17: as many as Seedream takes
    ]
    assert [o["type"] for o in imagine["options"]] == [3, 3, 3, 3, 4, 11, 11, 3, *[11] * 8]
    video = world.command("video")
    assert [o["name"] for o in video["options"]] == [
        "prompt",
        "model",
        "image",
        "image2",
        "image3",
        "ratio",
        "resolution",
        "duration",
        "mode",
        "style",
        *(f"image{n}" for n in range(4, 10)),
        *("video", "video2", "audio", "audio2"),  # Seedance 2.0's references
    ]
    veo = {o["name"]: o for o in world.command("veo")["options"]}
    assert [c["value"] for c in veo["duration"]["choices"]] == [4, 6, 8]
    assert [c["value"] for c in veo["model"]["choices"]] == ["veo3", "veo3_fast", "veo3_lite"]
    grok = {o["name"]: o for o in world.command("grok")["options"]}
    assert [c["value"] for c in grok["mode"]["choices"]] == ["fun", "normal", "spicy", "custom"]
    gpt = {o["name"]: o for o in world.command("gptimage")["options"]}
    assert len(gpt["ratio"]["choices"]) == 13 and "duration" not in gpt


async def test_autocomplete_offers_the_chosen_models_values(world: World, app: App) -> None:
    ac = await world.autocomplete("imagine", {"prompt": "x", "model": "seed"}, focused="model")
    values = [c["value"] for c in await ac.choices()]
    assert values == ["seedream-5-lite", "seedream-4.6", "seedream-4.5", "seedream-4"]
    ac = await world.autocomplete(
        "imagine",
        {"prompt": "x", "model": "gpt-image-2/text-to-image", "ratio": "21"},
        focused="ratio",
    )
    assert [c["value"] for c in await ac.choices()] == ["21:9", "9:21"]
    ac = await world.autocomplete(
        "video", {"prompt": "x", "model": "veo3", "duration": "8"}, focused="duration"
    )
    assert await ac.choices() == [{"name": "8 s", "value": 8}]
    # No model chosen yet: the default video model's values.
    ac = await world.autocomplete("video", {"prompt": "x", "ratio": ""}, focused="ratio")
    assert [c["value"] for c in await ac.choices()] == ["16:9", "9:16"]


# -- the happy paths ------------------------------------------------------------------------


async def test_imagine_answers_with_a_card_and_posts_the_result_under_it(
    world: World, sim: Simulator, app: App
) -> None:
    ix = await world.slash("imagine", {"prompt": "a lighthouse at @everyone dusk", "ratio": "16:9"})
    message = await card(ix)
    callback = ix.response
    # Within Discord's 3 seconds (the local Discord would also refuse a later answer).
    assert callback.at - discord.utils.snowflake_time(ix.id).timestamp() < 3.0
    # Nothing went to Max API before the answer.
    assert all(r.at.timestamp() >= callback.at for r in sim.requests)
    assert message.allowed_mentions == {"parse": []}
    text = message.embed_text()
    for words in ("job #", "nano-banana-2", "ratio 16:9", f"<@{world.member.user.id}>", "$0.10"):
        assert words in text
    job_id = job_id_of(message)

    job, result = await run_to_the_end(world, app, ix)
    assert job.id == job_id and job.progress_message_id == message.id
    assert [s.body["model"] for s in sim.submissions] == ["nano-banana-2"]
    assert sim.submissions[0].body["input"] == {
        "prompt": "a lighthouse at @everyone dusk",
        "ratio": "16:9",
    }
    assert [f.filename for f in result.files] == [f"atelier-{job_id}-1.png"]
    actions = ("reroll", "remix", "vary", "animate", "upscale", "info", "delete", "report")
    assert result.custom_ids() == [f"atelier:{a}:{job_id}" for a in actions]
    assert result.allowed_mentions is not None
    assert [int(u) for u in result.allowed_mentions["users"]] == [world.member.user.id]
    done = await ix.wait_original(lambda m: "Done" in m.embed_text(), timeout=10)
    assert done.custom_ids() == []  # no Cancel on a finished job
    assert f"/{result.id})" in done.embed_text()  # a link to the result
    # One card, one result, no separate ending message.
    mine = [m for m in world.messages(world.channel) if f"job #{job_id}" in m.content]
    assert mine == [result]


async def test_video_with_two_images_is_first_and_last_frame(
    world: World, sim: Simulator, app: App
) -> None:
    # Above $0.50 a job asks Confirm first (tests/e2e/test_confirm.py): not this test.
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=0.0)
    first, last = png(world, "first.png"), png(world, "last.jpg", content_type="image/jpeg")
    ix = await world.slash(
        "video",
        {"prompt": "a door opens [sim:seconds=5]", "image": first, "image2": last, "duration": 6},
    )
    job, result = await run_to_the_end(world, app, ix)
    body = sim.submissions[0].body
    assert body["model"] == "veo3_fast"
    assert body["input"]["imageUrls"] == [first.url, last.url]
    assert body["input"]["duration"] == 6
    assert "mode" not in body["input"]  # Max API infers i2v-fl from two images
    assert job.media == "video" and result.files[0].filename.endswith(".mp4")
    assert "vary" not in " ".join(result.custom_ids())  # no Variations of a video


FAMILY_CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("seedream", {"ratio": "21:9", "count": 2}, "seedream-5-lite", {"ratio": "21:9", "n": 2}),
    (
        "nanobanana",
        {"model": "nano-banana-pro", "resolution": "4k"},
        "nano-banana-pro",
        {"resolution": "4k"},
    ),
    (
        "gptimage",
        {"ratio": "9:21", "resolution": "4k"},
        "gpt-image-2/text-to-image",
        {"ratio": "9:21", "resolution": "4k"},
    ),
    ("jimeng", {"ratio": "3:2"}, "jimeng-5.0-preview", {"ratio": "3:2"}),
    ("grok", {"count": 3}, "grok-imagine/text-to-image-lite", {"n": 3}),
    ("grok", {"duration": 6, "mode": "fun"}, "grok-imagine/text-to-video", {"mode": "fun"}),
    ("veo", {"model": "veo3_lite", "duration": 4}, "veo3_lite", {"duration": 4}),
    ("seedance", {"duration": 5, "resolution": "480p"}, "seedance-2.0", {"duration": 5}),
    ("jimeng", {"duration": 5}, "jimeng-video-3.5-pro", {"duration": 5}),
]


@pytest.mark.parametrize(
    ("command", "options", "model", "expected"),
    FAMILY_CASES,
    ids=[f"{c[0]}-{c[2]}" for c in FAMILY_CASES],
)
async def test_family_command_happy_path(
    world: World,
    sim: Simulator,
    app: App,
    command: str,
    options: dict[str, Any],
    model: str,
    expected: dict[str, Any],
) -> None:
    # Above $0.50 a job asks Confirm first (tests/e2e/test_confirm.py): not this test.
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=0.0)
    ix = await world.slash(command, {"prompt": "a red fox [sim:seconds=2]", **options})
    job, result = await run_to_the_end(world, app, ix)
    (submitted,) = sim.submissions
    assert submitted.body["model"] == model == job.model
    assert expected.items() <= submitted.body["input"].items()
    assert result.files


@pytest.mark.parametrize(
    ("command", "variant"),
    [("grok", "grok-imagine/image-to-image"), ("gptimage", "gpt-image-2/image-to-image")],
)
async def test_attachments_pick_the_image_input_variant(
    world: World, sim: Simulator, app: App, command: str, variant: str
) -> None:
    photo = png(world, "me.webp", content_type="image/webp")
    ix = await world.slash(command, {"prompt": "make it a watercolour", "image": photo})
    job, _ = await run_to_the_end(world, app, ix)
    body = sim.submissions[0].body
    assert body["model"] == variant == job.model
    assert body["input"]["imageUrls"] == [photo.url]


async def test_imagine_edits_with_the_right_field_per_family(
    world: World, sim: Simulator, app: App
) -> None:
    photo = png(world)
    ix = await world.slash(
        "imagine", {"prompt": "add a hat", "model": "jimeng-4.6", "image": photo}
    )
    await run_to_the_end(world, app, ix)
    assert sim.submissions[0].body["input"]["images"] == [photo.url]  # Jimeng's own field


async def test_spicy_only_in_age_restricted_channels(
    world: World, sim: Simulator, app: App
) -> None:
    ix = await world.slash("grok", {"prompt": "a dance", "mode": "spicy", "duration": 6})
    assert "age-restricted" in await refusal(ix)
    assert not sim.submissions
    ix = await world.slash(
        "grok",
        {"prompt": "a dance [sim:seconds=2]", "mode": "spicy", "duration": 6},
        channel=world.nsfw_channel,
    )
    message = await card(ix)
    job = await settled(app.store, job_id_of(message))
    assert job.state == S.DELIVERED and job.input["mode"] == "spicy"


# -- refusals ----------------------------------------------------------------------------------


async def test_every_validation_error_is_ephemeral_and_costs_nothing(
    world: World, sim: Simulator, app: App
) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("imagine", {"prompt": "x", "model": "nano-banana", "ratio": "1:1"}, "16:9, 9:16"),
        ("imagine", {"prompt": "x", "count": 4}, "one result per job"),
        ("imagine", {"prompt": "x", "model": "dall-e-9"}, "Unknown model"),
        ("imagine", {"prompt": "x", "model": "veo3"}, "/imagine does not run veo3"),
        ("imagine", {"prompt": "   "}, "prompt is empty"),
        ("imagine", {"prompt": "x", "resolution": "8k"}, "not one of them"),
        ("video", {"prompt": "x", "model": "veo3", "duration": 5}, "4, 6, 8"),
        ("video", {"prompt": "x", "model": "nano-banana-2"}, "use /imagine or /nanobanana"),
        ("veo", {"prompt": "x", "model": "seedance-2.0"}, "/veo does not run seedance-2.0"),
        ("veo", {"prompt": "x", "model": "veo3_lite", "resolution": "4k"}, "720p only"),
        (
            "veo",
            {"prompt": "x", "model": "veo3", "mode": "i2v"},
            "needs 1 image",
        ),
        (
            "video",
            {
                "prompt": "x",
                "model": "veo3_lite",
                "image": png(world, "1.png"),
                "image2": png(world, "2.png"),
                "image3": png(world, "3.png"),
            },
            "takes at most 2 image",
        ),
        (
            "imagine",
            {
                "prompt": "x",
                "image": world.attachment("notes.txt", b"hi", content_type="text/plain"),
            },
            "notes.txt",
        ),
        (
            "imagine",
            {
                "prompt": "x",
                "image": world.attachment("cat.png", b"<html>", content_type="text/html"),
            },
            "not an image",
        ),
        ("imagine", {"prompt": "x", "image": png(world, size=30_000_000)}, "the limit is 20.0 MB"),
        ("imagine", {"prompt": "x" * 4001}, "the limit is 4000"),
    ]
    for command, options, expected in cases:
        ix = await world.slash(command, options, strict=False)
        text = await refusal(ix)
        assert expected in text, f"/{command} {options}: {text!r}"
    assert await app.store.count_by_state() == {}
    assert not sim.submissions


async def test_missing_bot_permissions_are_told_before_any_job(
    world: World, sim: Simulator, app: App
) -> None:
    world.set_bot_deny(world.art_channel, discord.Permissions(attach_files=True).value)
    ix = await world.slash("imagine", {"prompt": "a cat"}, channel=world.art_channel)
    text = await refusal(ix)
    assert "I can't post here" in text and "Attach Files" in text
    world.set_bot_deny(world.art_channel, discord.Permissions(embed_links=True).value)
    ix = await world.slash("veo", {"prompt": "a cat"}, channel=world.art_channel)
    assert "Embed Links" in await refusal(ix)
    assert await app.store.count_by_state() == {}
    assert not sim.submissions


async def test_a_member_who_cannot_attach_files_cannot_send_images(world: World, app: App) -> None:
    world.guild.everyone.permissions &= ~discord.Permissions(attach_files=True).value
    ix = await world.slash("imagine", {"prompt": "x", "image": png(world)})
    assert "can't attach files in this channel" in await refusal(ix)
    assert await app.store.count_by_state() == {}
    ix = await world.slash("imagine", {"prompt": "no image needed [sim:seconds=1]"})
    await card(ix)  # a prompt alone is fine


# -- the card as the job moves -----------------------------------------------------------------


async def test_a_failure_is_shown_on_the_card_once(world: World, app: App) -> None:
    ix = await world.slash("imagine", {"prompt": "a face [sim:fail=CONTENT_MODERATION]"})
    message = await card(ix)
    job = await settled(app.store, job_id_of(message))
    assert job.state == S.FAILED
    final = await ix.wait_original(lambda m: "Failed" in m.embed_text(), timeout=10)
    assert "moderation" in final.embed_text() and "not charged" in final.embed_text()
    assert final.custom_ids() == []
    await world.settle()
    assert [m for m in world.messages(world.channel) if f"job #{job.id}" in m.content] == []


async def test_card_edits_are_throttled_and_the_last_state_is_never_lost(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
) -> None:
    interval = 1.0
    async with started(run_bot, make_bot, runtime_settings, interval=interval) as app:
        ix = await world.slash("imagine", {"prompt": "slowly [sim:seconds=100]"})
        message = await card(ix)
        job = await settled(app.store, job_id_of(message))
        assert job.state == S.DELIVERED
        await ix.wait_original(lambda m: "Done" in m.embed_text(), timeout=10)
    edits = [
        r.at
        for r in world.requests
        if r.method == "PATCH" and r.path.endswith(f"/messages/{message.id}")
    ]
    # Queued, running, succeeded, delivering and delivered came within ~1 s: fewer edits,
    # each at least an interval after the previous one (and after the answer).
    assert 1 <= len(edits) <= 4, edits
    times = [ix.response.at, *edits]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= interval * 0.9, gaps


async def test_after_the_token_expires_the_card_is_edited_through_the_channel(
    world: World, sim: Simulator, app: App
) -> None:
    ix = await world.slash("imagine", {"prompt": "an owl [sim:hold]"})
    message = await card(ix)
    job_id = job_id_of(message)
    await world.wait_for(lambda: sim.submissions, timeout=10)
    ix.expire()
    job = await job_when(app.store, job_id, lambda job: job.task_id is not None)
    assert job.task_id is not None
    sim.finish(job.task_id)
    await world.wait_for_message(
        world.channel,
        lambda m: f"job #{job_id}" in m.content and bool(m.files),
        timeout=20,
        kind="channel",
    )
    await world.wait_for(lambda: "Done" in message.embed_text(), timeout=10, what="a Done card")
    channel_edits = world.requests_to("PATCH /channels/{channel_id}/messages/{message_id}")
    assert any(r.path.endswith(f"/{message.id}") and r.status == 200 for r in channel_edits)


async def test_a_deleted_card_still_gets_its_ending_told_once(
    world: World, sim: Simulator, app: App
) -> None:
    ix = await world.slash("imagine", {"prompt": "a bat [sim:hold]"})
    message = await card(ix)
    job = await job_when(app.store, job_id_of(message), lambda job: job.state == S.RUNNING)
    world.delete_message(message)  # a moderator tidied the channel
    assert job.task_id is not None
    sim.finish(job.task_id, status="FAILURE", failure_reason="INSUFFICIENT_POINTS")
    assert (await settled(app.store, job.id)).state == S.FAILED
    told = await world.wait_for_message(
        world.channel, lambda m: f"job #{job.id}" in m.content, kind="channel"
    )
    assert told.content.startswith(f"<@{world.member.user.id}>") and "credits" in told.content
    await asyncio.sleep(2 * FAST)  # a second notice would come within a card interval
    await world.settle()
    assert [m for m in world.messages(world.channel) if f"job #{job.id}" in m.content] == [told]


async def test_a_failed_answer_drops_the_job_before_max_api(
    world: World, sim: Simulator, app: App
) -> None:
    world.faults.next(route="POST /interactions/{interaction_id}/{token}/callback", code=10062)
    await world.slash("imagine", {"prompt": "too late"})
    job = await settled(app.store, 1)
    (answer,) = world.requests_to("POST /interactions/{interaction_id}/{token}/callback")
    assert (answer.status, answer.code, answer.fault) == (404, 10062, True)
    assert job.state == S.CANCELLED and job.progress_message_id is None
    await world.settle()
    assert not sim.submissions


async def test_the_servers_default_model_and_allowed_models_apply(world: World, app: App) -> None:
    await app.store.update_guild_config(
        world.guild.id,
        default_image_model="seedream-4",
        allowed_models=frozenset({"seedream-4", "seedream-4.5"}),
    )
    ix = await world.autocomplete("imagine", {"prompt": "x", "model": ""}, focused="model")
    assert [c["value"] for c in await ix.choices()] == ["seedream-4.5", "seedream-4"]
    ix = await world.slash("imagine", {"prompt": "a fox [sim:seconds=1]"})
    job, _ = await run_to_the_end(world, app, ix)
    assert job.model == "seedream-4"
    ix = await world.slash("imagine", {"prompt": "a fox", "model": "nano-banana-2"})
    assert "only these models" in await refusal(ix)
