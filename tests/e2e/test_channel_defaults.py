"""``/settings channel`` end to end: real discord.py against the local Discord, the Max API
simulator and the whole runtime. A moderator gives a channel its own model and ratio; a
plain ``/imagine`` there uses them, what the command says still wins, other channels keep
the server's defaults, and ``clear`` gives the channel back to them."""

from __future__ import annotations

from typing import Any

from bot.domain.presets import option_defaults
from simulator import Simulator
from tests.discord_world import Channel, World
from tests.e2e.support import App, card, job_id_of, refusal, run_to_the_end, settled
from tests.e2e.support import as_moderator as moderator

SEEDREAM = "seedream-4.5"
BUILT_IN = "nano-banana-2"  # the catalogue's default image model
SERVERS = "seedream-4"


async def imagine(
    world: World, app: App, sim: Simulator, channel: Channel, **options: Any
) -> tuple[str, dict[str, Any]]:
    """The model and the Max API input of a delivered ``/imagine`` in ``channel``."""
    ix = await world.slash("imagine", {"prompt": "a fox", **options}, channel=channel)
    job, _ = await run_to_the_end(world, app, ix)
    body = sim.submissions[-1].body
    assert (job.model, job.input) == (body["model"], body["input"])
    return body["model"], body["input"]


async def test_a_channels_defaults_apply_there_and_the_command_still_wins(
    world: World, sim: Simulator, app: App
) -> None:
    art = world.art_channel
    reply = await moderator(
        world,
        "settings channel",
        {"channel": art, "image_model": SEEDREAM, "ratio": "21:9", "resolution": "4k"},
    )
    text = reply.embed_text()
    assert f"defaults in <#{art.id}>: image model `{SEEDREAM}` · ratio 21:9 · resolution 4k" in text
    assert "Channel defaults" in text
    assert "`veo3_fast` does not take ratio 21:9" in text  # the video jobs there

    assert await imagine(world, app, sim, art) == (
        SEEDREAM,
        {"prompt": "a fox", "ratio": "21:9", "resolution": "4k"},
    )
    # The card says which values the defaults gave.
    ix = await world.slash("imagine", {"prompt": "an owl", "ratio": "9:16"}, channel=art)
    message = await card(ix)
    assert "ratio 9:16 · resolution 4k (default)" in message.embed_text()
    await settled(app.store, job_id_of(message))
    # What the command says wins; a default the chosen model does not take is left out.
    assert await imagine(world, app, sim, art, model=BUILT_IN, ratio="16:9") == (
        BUILT_IN,
        {"prompt": "a fox", "ratio": "16:9", "resolution": "4k"},
    )
    assert await imagine(world, app, sim, art, model="nano-banana") == (
        "nano-banana",
        {"prompt": "a fox"},
    )
    # Elsewhere: the server's defaults.
    await app.store.update_guild_config(
        world.guild.id, default_image_model=SERVERS, defaults={"ratio": "1:1"}
    )
    assert await imagine(world, app, sim, world.channel) == (
        SERVERS,
        {"prompt": "a fox", "ratio": "1:1"},
    )
    assert (await imagine(world, app, sim, art))[0] == SEEDREAM  # the channel's still
    # /settings show lists the channel.
    show = await moderator(world, "settings show", {})
    assert f"<#{art.id}>: image model `{SEEDREAM}` · ratio 21:9 · resolution 4k" in (
        show.embed_text()
    )

    cleared = await moderator(world, "settings channel", {"channel": art, "clear": True})
    assert f"<#{art.id}> uses the server's defaults again" in cleared.embed_text()
    config = await app.store.guild_config(world.guild.id)
    assert config.channel_defaults == {} and option_defaults(config, art.id) == {"ratio": ("1:1",)}
    assert await imagine(world, app, sim, art) == (SERVERS, {"prompt": "a fox", "ratio": "1:1"})
    entries = await app.store.audit_entries(world.guild.id)
    assert [e["action"] for e in entries if e["action"].startswith("settings.channel_")] == [
        "settings.channel_defaults",
        "settings.channel_defaults",
    ]


async def test_a_paused_channel_model_gives_way_to_the_servers(
    world: World, sim: Simulator, app: App
) -> None:
    art = world.art_channel
    await moderator(world, "settings channel", {"channel": art, "image_model": SEEDREAM})
    await app.store.update_guild_config(world.guild.id, paused_models={SEEDREAM: "too dear"})
    assert (await imagine(world, app, sim, art))[0] == BUILT_IN


async def test_wrong_values_and_members_are_refused(world: World, sim: Simulator, app: App) -> None:
    art = world.art_channel
    ix = await world.slash("settings channel", {"channel": art, "image_model": "veo3"})
    assert "Only moderators" in await refusal(ix)
    ix = await world.slash(
        "settings channel", {"channel": art, "ratio": "7:5"}, user=world.moderator
    )
    assert "No model takes ratio 7:5" in await refusal(ix)
    ix = await world.slash(
        "settings channel", {"channel": art, "video_model": SEEDREAM}, user=world.moderator
    )
    assert f"`{SEEDREAM}` is not an video model" in await refusal(ix)
    ix = await world.slash(
        "settings channel",
        {"channel": art, "ratio": "7:5"},
        user=world.moderator,
        locale="zh-CN",
    )
    assert "没有模型接受比例 7:5" in await refusal(ix)
    assert (await app.store.guild_config(world.guild.id)).channel_defaults == {}
    assert sim.submissions == []


async def test_autocomplete_offers_models_and_values_for_a_channel(world: World, app: App) -> None:
    await app.store.update_guild_config(world.guild.id, paused_models={"seedream-4": "broken"})
    ac = await world.autocomplete(
        "settings channel",
        {"channel": world.art_channel, "image_model": "seedream"},
        focused="image_model",
        user=world.moderator,
    )
    values = [c["value"] for c in await ac.choices()]
    assert values == ["seedream-5-lite", "seedream-4.6", "seedream-4.5"]  # not the paused one
    ac = await world.autocomplete(
        "settings channel",
        {"channel": world.art_channel, "ratio": "21"},
        focused="ratio",
        user=world.moderator,
    )
    assert [c["value"] for c in await ac.choices()] == ["21:9", "9:21"]
