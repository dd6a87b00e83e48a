"""``/settings channel`` and ``/settings styles`` behind the commands, on both databases:
what is stored and audited, what is refused (storing nothing), and what a job accepted in
that channel, or with that style, is sent."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from bot.domain.catalog import GenerationRequest
from bot.domain.errors import UserFacingError
from bot.domain.presets import MAX_STYLES, find_style, styled_prompt
from bot.services.audit import AuditLog
from bot.services.channel_defaults import add_style, remove_style, set_channel_defaults
from bot.services.guild_settings import GuildSettingsService
from bot.services.jobs import Requester
from tests.helpers.jobs import IMAGE, REQUESTER, Harness, harness

GUILD = REQUESTER.guild_id or 0
HERE = REQUESTER.channel_id
ELSEWHERE = dataclasses.replace(REQUESTER, channel_id=HERE + 100)
MOD = 7


@pytest.fixture
async def h(store_target: str) -> AsyncIterator[Harness]:
    async with harness(store_target) as running:
        yield running


def service(h: Harness) -> GuildSettingsService:
    return GuildSettingsService(h.store, AuditLog(h.store), h.catalog)


async def ratio_sent(h: Harness, model: str, options: dict[str, str], where: Requester) -> object:
    job = await h.jobs.accept(GenerationRequest(model, "a fox", options), where)
    return job.input.get("ratio")


async def test_a_channels_defaults_are_stored_audited_and_used_there_only(h: Harness) -> None:
    settings = service(h)
    await h.store.update_guild_config(GUILD, defaults={"ratio": "1:1"})
    change = await set_channel_defaults(
        settings,
        GUILD,
        MOD,
        HERE,
        {"image_model": f" {IMAGE} ", "ratio": "21:9", "video_model": None},
        clear=False,
        locale=None,
    )
    assert change.config.channel_defaults == {HERE: {"image_model": IMAGE, "ratio": "21:9"}}
    assert change.summary.startswith(f"defaults in <#{HERE}>: image model `{IMAGE}` · ratio 21:9\n")
    assert "`veo3_fast` does not take ratio 21:9" in change.summary  # the default video model
    stored = await h.store.guild_config(GUILD)
    assert stored.channel_defaults == {HERE: {"image_model": IMAGE, "ratio": "21:9"}}
    (entry, *_) = await h.store.audit_entries(GUILD)
    assert (entry["action"], entry["target"], entry["actor_id"]) == (
        "settings.channel_defaults",
        f"channel:{HERE}",
        MOD,
    )
    assert entry["detail"]["defaults"] == {"image_model": IMAGE, "ratio": "21:9"}

    assert await ratio_sent(h, IMAGE, {}, REQUESTER) == "21:9"  # the channel's
    assert await ratio_sent(h, IMAGE, {"ratio": "16:9"}, REQUESTER) == "16:9"  # the command's
    assert await ratio_sent(h, IMAGE, {}, ELSEWHERE) == "1:1"  # the server's
    assert await ratio_sent(h, "nano-banana", {}, REQUESTER) is None  # takes neither

    zh = await set_channel_defaults(
        settings, GUILD, MOD, HERE, {"ratio": "default"}, clear=False, locale="zh-CN"
    )
    assert zh.config.channel_defaults == {HERE: {"image_model": IMAGE}}
    assert zh.summary == f"<#{HERE}> 的默认设置：图片模型 `{IMAGE}`"
    assert await ratio_sent(h, IMAGE, {}, REQUESTER) == "1:1"

    cleared = await set_channel_defaults(settings, GUILD, MOD, HERE, {}, clear=True, locale=None)
    assert cleared.config.channel_defaults == {}
    assert cleared.summary == f"<#{HERE}> uses the server's defaults again"
    with pytest.raises(UserFacingError, match="has no defaults of its own"):
        await set_channel_defaults(settings, GUILD, MOD, HERE, {}, clear=True, locale=None)


@pytest.mark.parametrize(
    ("given", "clear", "refusal"),
    [
        ({}, False, "Give image_model, video_model, ratio, resolution or clear"),
        ({"ratio": "16:9"}, True, "Give clear alone"),
        ({"image_model": "dall-e-9"}, False, "Unknown model `dall-e-9`"),
        ({"image_model": "veo3"}, False, "`veo3` is not an image model"),
        ({"video_model": "veo3"}, False, "not in this server's allowed models"),
        ({"image_model": "seedream-4"}, False, "`seedream-4` is paused in this server"),
        ({"ratio": "7:5"}, False, "No model takes ratio 7:5"),
        ({"resolution": "16k"}, False, "No model takes resolution 16k"),
    ],
)
async def test_a_wrong_channel_default_is_refused_and_nothing_stored(
    h: Harness, given: dict[str, str], clear: bool, refusal: str
) -> None:
    await h.store.update_guild_config(
        GUILD,
        allowed_models=frozenset({IMAGE, "seedream-4", "veo3_fast"}),
        paused_models={"seedream-4": "broken"},
    )
    before = await h.store.guild_config(GUILD)
    with pytest.raises(UserFacingError, match=refusal):
        await set_channel_defaults(service(h), GUILD, MOD, HERE, given, clear=clear, locale=None)
    assert await h.store.guild_config(GUILD) == before
    assert await h.store.audit_entries(GUILD) == []


async def test_styles_are_added_changed_listed_and_removed(h: Harness) -> None:
    settings = service(h)
    added = await add_style(settings, GUILD, MOD, " Noir ", "black and white, hard  shadows", None)
    assert added.config.styles == {"Noir": "black and white, hard shadows"}
    assert added.summary == "added style “Noir”: black and white, hard shadows"
    changed = await add_style(settings, GUILD, MOD, "noir", "avoid colour", "zh-CN")
    assert changed.config.styles == {"noir": "avoid colour"}
    assert changed.summary == "已修改风格“noir”：avoid colour"
    with pytest.raises(UserFacingError, match="no style called “sepia”"):
        await remove_style(settings, GUILD, MOD, "sepia", None)
    removed = await remove_style(settings, GUILD, MOD, "NOIR", None)
    assert removed.config.styles == {} and removed.summary == "removed style “noir”"
    actions = [
        (e["action"], e["detail"].get("added") or e["detail"].get("removed"))
        for e in await h.store.audit_entries(GUILD)
    ]
    assert actions == [
        ("settings.styles", "noir"),
        ("settings.styles", "noir"),
        ("settings.styles", "Noir"),
    ]


async def test_a_style_list_holds_at_most_25_and_no_banned_word(h: Harness) -> None:
    settings = service(h)
    await h.store.update_guild_config(
        GUILD,
        styles={f"s{i}": "text" for i in range(MAX_STYLES)},
        banned_words=("gore",),
    )
    with pytest.raises(UserFacingError, match="the most it can hold"):
        await add_style(settings, GUILD, MOD, "one more", "text", None)
    with pytest.raises(UserFacingError, match="does not allow"):
        await add_style(settings, GUILD, MOD, "s1", "lots of gore", None)
    assert (await h.store.guild_config(GUILD)).styles["s1"] == "text"


async def test_a_styled_job_keeps_the_prompt_as_sent_and_the_filter_reads_it(h: Harness) -> None:
    settings = service(h)
    await add_style(settings, GUILD, MOD, "Clean", "avoid text and logos", None)
    styles = (await h.store.guild_config(GUILD)).styles
    name, text = find_style(styles, "clean")
    request = GenerationRequest(IMAGE, styled_prompt("a fox", text), style=name)
    job = await h.jobs.accept(request, REQUESTER)
    assert (job.prompt, job.style) == ("a fox, avoid text and logos", "Clean")
    assert job.input["prompt"] == "a fox, avoid text and logos"
    assert (await h.job(job.id)).style == "Clean"  # read back from the database

    await h.store.update_guild_config(GUILD, banned_words=("logos",))
    with pytest.raises(UserFacingError, match="does not allow"):
        await h.jobs.accept(request, REQUESTER)
