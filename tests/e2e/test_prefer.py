"""``/prefer`` end to end through real discord.py and the local Discord: a member's
preferred model and ratio apply where a command says nothing, what the command says wins,
a paused preferred model falls back to the server's default (and is marked), and reset
brings the server's defaults back. Answers are private, in en-US and zh-CN."""

from __future__ import annotations

from typing import Any

from tests.discord_world import Message, World
from tests.e2e.support import App, answer, refusal, run_to_the_end

MINE = "seedream-4.5"
OTHER = "seedream-4.6"
SERVER_DEFAULT = "nano-banana-2"


async def prefer(
    world: World, sub: str, options: dict[str, Any] | None = None, **kw: Any
) -> Message:
    message = await answer(await world.slash(f"prefer {sub}", options or {}, **kw))
    assert message.ephemeral
    return message


async def test_a_preference_applies_where_the_command_says_nothing(world: World, app: App) -> None:
    saved = await prefer(world, "set", {"image_model": MINE, "ratio": "16:9"})
    assert f"`{MINE}`" in saved.embed_text() and "16:9" in saved.embed_text()

    job, _ = await run_to_the_end(world, app, await world.slash("imagine", {"prompt": "a fox"}))
    assert job.model == MINE and job.input["ratio"] == "16:9"

    named = await world.slash("imagine", {"prompt": "a fox", "model": OTHER, "ratio": "1:1"})
    job, _ = await run_to_the_end(world, app, named)
    assert job.model == OTHER and job.input["ratio"] == "1:1"  # the command wins

    # Another member's jobs keep the server's defaults.
    job, _ = await run_to_the_end(
        world, app, await world.slash("imagine", {"prompt": "a fox"}, user=world.moderator)
    )
    assert job.model == SERVER_DEFAULT and "ratio" not in job.options


async def test_a_paused_preferred_model_is_skipped_and_marked_and_reset_forgets(
    world: World, app: App
) -> None:
    await prefer(world, "set", {"image_model": MINE})
    paused = await answer(
        await world.slash("settings models pause", {"model": MINE}, user=world.moderator)
    )
    assert paused.ephemeral
    job, _ = await run_to_the_end(world, app, await world.slash("imagine", {"prompt": "a owl"}))
    assert job.model == SERVER_DEFAULT
    shown = (await prefer(world, "show")).embed_text()
    assert f"`{MINE}` (paused here: the server's default is used)" in shown
    shown_zh = (await prefer(world, "show", locale="zh-CN")).embed_text()
    assert f"`{MINE}`（本服务器已暂停" in shown_zh and "你的偏好" in shown_zh

    gone = (await prefer(world, "reset")).embed_text()
    assert "forgotten" in gone
    again = (await prefer(world, "reset")).embed_text()
    assert "You have no preferences here" in again
    assert "the server's default" in (await prefer(world, "show")).embed_text()


async def test_bad_preferences_get_one_private_sentence(world: World, app: App) -> None:
    nothing = await refusal(await world.slash("prefer set", {}))
    assert "Give image_model, video_model, ratio, resolution or notify" in nothing
    ratio = await refusal(await world.slash("prefer set", {"ratio": "7:5"}))
    assert "No model takes ratio 7:5" in ratio
    video = await refusal(await world.slash("prefer set", {"image_model": "veo3-fast"}))
    assert "is not an image model" in video or "Unknown model" in video
    assert await app.store.member_prefs(world.guild.id, world.member.id) == {}


async def test_model_autocomplete_offers_only_what_the_server_offers(
    world: World, app: App
) -> None:
    await answer(await world.slash("settings models pause", {"model": MINE}, user=world.moderator))
    ix = await world.autocomplete("prefer set", {"image_model": "seedream"}, focused="image_model")
    values = [c["value"] for c in await ix.choices()]
    assert OTHER in values and MINE not in values
