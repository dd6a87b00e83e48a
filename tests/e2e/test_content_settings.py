"""``/settings channels spoiler`` and ``/settings adult`` end to end: every result posted in a
spoiler channel is a spoiler (``/show`` too); with adult content off, Grok's spicy mode is
refused in every channel before anything is reserved; members cannot change either; zh-CN."""

from __future__ import annotations

from bot.domain.job_states import JobState
from simulator import Simulator
from tests.discord_world import World
from tests.e2e.support import (
    App,
    answer,
    card,
    job_id_of,
    refusal,
    run_to_the_end,
    settled,
    spoilers,
)
from tests.e2e.support import as_moderator as moderator

S = JobState
ZH = "zh-CN"
SPICY = {"prompt": "a dance [sim:seconds=2]", "mode": "spicy", "duration": 6}


async def test_results_in_a_spoiler_channel_are_spoilers(world: World, app: App) -> None:
    done = await moderator(world, "settings channels spoiler", {"channel": world.art_channel})
    assert f"results posted in <#{world.art_channel.id}> are now spoilers" in done.embed_text()
    config = await app.store.guild_config(world.guild.id)
    assert config.spoiler_channel_ids == {world.art_channel.id}
    shown = await moderator(world, "settings show", {})
    assert "Spoiler channels" in shown.embed_text()
    assert f"<#{world.art_channel.id}>" in shown.embed_text()

    ix = await world.slash("imagine", {"prompt": "a fox"}, channel=world.art_channel)
    job, result = await run_to_the_end(world, app, ix)
    assert spoilers(result) == [True]
    assert f"atelier:report:{job.id}" in result.custom_ids()
    _, elsewhere = await run_to_the_end(world, app, await world.slash("imagine", {"prompt": "x"}))
    assert spoilers(elsewhere) == [False]

    again = await world.slash("show", {"job": job.id}, channel=world.art_channel)
    await answer(again)
    reposted = await world.wait_for_message(
        world.art_channel, lambda m: m.id != result.id and bool(m.files), kind="channel"
    )
    assert spoilers(reposted) == [True]
    assert f"atelier:report:{job.id}" not in reposted.custom_ids()  # reports: the original

    world.set_upload_limit(100)  # a result too large to attach: its link is a spoiler too
    ix = await world.slash("imagine", {"prompt": "a big fox"}, channel=world.art_channel)
    linked, link_post = await run_to_the_end(world, app, ix)
    assert link_post.files == [] and f"||{linked.result_urls[0]}||" in link_post.content
    world.set_upload_limit(10 * 1024 * 1024)

    off = await moderator(
        world, "settings channels spoiler", {"channel": world.art_channel, "on": False}
    )
    assert "are no longer spoilers" in off.embed_text()
    ix = await world.slash("imagine", {"prompt": "a hare"}, channel=world.art_channel)
    _, plain = await run_to_the_end(world, app, ix)
    assert spoilers(plain) == [False]
    actions = [e["action"] for e in await app.store.audit_entries(world.guild.id)]
    assert actions.count("settings.spoiler") == 2


async def test_members_cannot_change_what_results_show(world: World, app: App) -> None:
    for name, options in (
        ("settings channels spoiler", {"channel": world.art_channel}),
        ("settings adult", {"switch": "off"}),
    ):
        ix = await world.slash(name, options, user=world.member)
        assert "Only moderators (Manage Server)" in await refusal(ix)
    config = await app.store.guild_config(world.guild.id)
    assert config.spoiler_channel_ids == frozenset() and config.adult_allowed


async def test_adult_off_refuses_spicy_everywhere_before_anything_is_reserved(
    world: World, sim: Simulator, app: App
) -> None:
    done = await moderator(world, "settings adult", {"switch": "off"})
    assert "refused everywhere" in done.embed_text()
    assert not (await app.store.guild_config(world.guild.id)).adult_allowed
    assert "off: refused everywhere" in (await moderator(world, "settings show", {})).embed_text()

    for channel in (world.nsfw_channel, world.channel):
        ix = await world.slash("grok", SPICY, channel=channel)
        text = await refusal(ix)
        assert "This server has turned adult content off, so mode spicy can't be used here." in (
            text
        )
    assert not sim.submissions
    assert await app.store.charges_in(world.guild.id, "0000-00-00", "9999-99-99") == []

    normal = await world.slash("grok", {**SPICY, "mode": "normal"}, channel=world.channel)
    assert (await settled(app.store, job_id_of(await card(normal)))).state == S.DELIVERED

    await moderator(world, "settings adult", {"switch": "on"})
    ix = await world.slash("grok", SPICY, channel=world.nsfw_channel)
    job = await settled(app.store, job_id_of(await card(ix)))
    assert job.state == S.DELIVERED and job.input["mode"] == "spicy"
    actions = [e["action"] for e in await app.store.audit_entries(world.guild.id)]
    assert actions.count("settings.adult") == 2


async def test_content_settings_and_refusals_in_chinese(world: World, app: App) -> None:
    done = await moderator(world, "settings adult", {"switch": "off"}, locale=ZH)
    text = done.embed_text()
    assert "成人选项（例如 Grok 的 spicy 模式）在所有频道中都被拒绝" in text
    assert "成人内容" in text and "关闭：所有频道都拒绝" in text
    ix = await world.slash("grok", SPICY, channel=world.nsfw_channel, locale=ZH)
    assert "本服务器已关闭成人内容，因此不能在这里使用 模式 spicy。" in await refusal(ix)

    spoiler = await moderator(
        world, "settings channels spoiler", {"channel": world.art_channel}, locale=ZH
    )
    assert f"在 <#{world.art_channel.id}> 发布的结果现在都是剧透" in spoiler.embed_text()
    assert "剧透频道" in spoiler.embed_text()
