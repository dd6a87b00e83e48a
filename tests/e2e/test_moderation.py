"""Moderator tools and ``/usage`` end to end: real discord.py against the local Discord,
the Max API simulator and the whole :class:`~bot.runtime.Runtime`.

What members and moderators see, that every moderator command checks Manage Server
again when it runs (the world delivers a member's command whatever the default
permissions say, as Discord does when a server's admins override them), that limits,
blocks and settings take effect on the next ``/imagine``, that the audit channel hears
about actions and refusals without pinging anyone, and the race: a hundred
simultaneous ``/imagine`` against a limit of five.
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import discord
import pytest

from bot.domain.catalog import GenerationRequest
from bot.domain.errors import UserFacingError
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.domain.quota import Limits
from bot.domain.units import parse_duration
from bot.runtime import Runtime
from bot.services.jobs import Requester
from bot.store import Store
from tests.discord_world import InjectedInteraction, Member, Message, World
from tests.e2e.support import answer, as_moderator

S = JobState
SCALE = 0.01
MODEL = "nano-banana-2"
MANAGE_GUILD = str(discord.Permissions(manage_guild=True).value)


@pytest.fixture
def store(runtime: Runtime) -> Store:
    assert runtime.store is not None
    return runtime.store


async def accept(runtime: Runtime, world: World, prompt: str, user: Member | None = None) -> Job:
    assert runtime.jobs is not None
    who = user or world.member
    requester = Requester(guild_id=world.guild.id, channel_id=world.channel.id, user_id=who.id)
    return await runtime.jobs.accept(GenerationRequest(MODEL, prompt, {}), requester)


async def settled(store: Store, job_id: int, within: float = 20.0) -> Job:
    async with asyncio.timeout(within):
        while True:
            job = await store.get(job_id)
            if job is not None and job.state.is_terminal:
                return job
            await asyncio.sleep(0.02)


async def imagine(world: World, prompt: str, **kwargs: Any) -> tuple[InjectedInteraction, Message]:
    ix = await world.slash("imagine", {"prompt": prompt}, **kwargs)
    return ix, await answer(ix)


def is_card(message: Message) -> bool:
    return not message.ephemeral and any(
        c.startswith("atelier:cancel:") for c in message.custom_ids()
    )


# -- pure helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("2h", 7200),
        ("1d", 86400),
        ("1w", 604800),
        ("1d12h", 129600),
        (" 1H 30M ", 5400),
        ("45s", 45),
        (None, None),
        ("", None),
        ("permanent", None),
    ],
)
def test_durations_read_as_seconds(text: str | None, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "soon", "1y", "0m", "h1", "1h-2m", "400d"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(UserFacingError):
        parse_duration(text)


# -- who may run what ---------------------------------------------------------------------------


async def test_moderator_commands_are_hidden_from_members_by_default(
    world: World, runtime: Runtime
) -> None:
    for name in ("limits", "block", "unblock", "settings"):
        command = world.command(name)
        assert str(command["default_member_permissions"]) == MANAGE_GUILD, name
        assert command["dm_permission"] is False, name  # guild only
    assert world.command("usage")["default_member_permissions"] is None
    assert world.command("usage")["dm_permission"] is False
    limits = {o["name"] for o in world.command("limits")["options"]}
    assert limits == {"set", "show", "reset"}
    settings = {o["name"] for o in world.command("settings")["options"]}
    assert {"show", "models", "channels", "words", "audit", "budget", "exempt"} <= settings
    usage = {o["name"]: o for o in world.command("usage")["options"]}
    assert set(usage) == {"show", "grant", "refund"}
    assert {o["name"] for o in usage["show"]["options"]} == {"user", "period", "export"}


async def test_a_member_is_refused_by_every_moderator_command(
    world: World, runtime: Runtime, store: Store
) -> None:
    """The world delivers the commands (as Discord does when admins override the default
    permissions): each one must check Manage Server itself, change nothing, and audit."""
    await store.block(world.guild.id, world.owner.id, "for the test", None, world.moderator.id)
    await store.update_guild_config(world.guild.id, banned_words=("dragon",))
    before = await store.guild_config(world.guild.id)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("limits set", {"images_per_day": 1000}),
        ("limits set", {"user": world.member, "images_per_day": 1000}),
        ("limits show", {}),
        ("limits reset", {"target": world.member}),
        ("block", {"user": world.moderator}),
        ("unblock", {"user": world.owner}),
        ("settings show", {}),
        ("settings models set", {"allowed": "all"}),
        ("settings channels allow", {"channel": world.art_channel}),
        ("settings channels deny", {"channel": world.art_channel}),
        ("settings channels remove", {"channel": world.art_channel}),
        ("settings channels all", {}),
        ("settings words add", {"words": "cat"}),
        ("settings words remove", {"words": "dragon"}),
        ("settings words list", {}),
        ("settings audit", {"channel": world.art_channel}),
        ("settings budget", {"daily_usd": 999.0}),
        ("settings exempt add", {"role": world.moderator_role}),
        ("settings exempt remove", {"role": world.moderator_role}),
        ("usage grant", {"user": world.member, "images": 5}),
        ("usage refund", {"job": 1}),
    ]
    for name, options in cases:
        message = await answer(await world.slash(name, options, user=world.member))
        text = message.embed_text()
        assert message.ephemeral, name
        assert "Not allowed" in text and "Manage Server" in text, f"/{name}: {text!r}"
        assert "dragon" not in text, f"/{name} leaked the word list"
    assert await store.all_limits(world.guild.id) == []
    assert await store.guild_config(world.guild.id) == before
    assert await store.active_block(world.guild.id, world.owner.id, store.clock()) is not None
    assert await store.active_block(world.guild.id, world.moderator.id, store.clock()) is None
    refusals = [e for e in await store.audit_entries(world.guild.id) if e["action"] == "refused"]
    assert len(refusals) == len(cases)
    assert {e["actor_id"] for e in refusals} == {world.member.id}
    assert {e["target"] for e in refusals} == {f"/{name}" for name, _ in cases}


# -- /limits ------------------------------------------------------------------------------------


async def test_limits_set_then_an_over_limit_imagine_is_refused_with_the_reset_time(
    world: World, runtime: Runtime, store: Store
) -> None:
    message = await as_moderator(
        world, "limits set", {"user": world.member, "images_per_day": 1, "cooldown_seconds": 0}
    )
    text = message.embed_text()
    assert "Limits set" in text and "images/day 25 → 1" not in text  # the row had nothing
    assert "images/day — → 1" in text
    assert await store.limits_row(world.guild.id, "user", world.member.id) == Limits(
        images_per_day=1, cooldown_seconds=0
    )
    _, card = await imagine(world, "a first fox")
    assert is_card(card)
    _, refused = await imagine(world, "a second fox")
    text = refused.embed_text()
    assert refused.ephemeral
    assert "Limit reached" in text and "0 of 1 left today" in text
    assert "It resets <t:" in text
    other = await answer(await world.slash("imagine", {"prompt": "x"}, user=world.owner))
    assert is_card(other)  # the limit is the member's own


async def test_limits_layers_clear_and_reset(world: World, runtime: Runtime, store: Store) -> None:
    guild = world.guild.id
    # @everyone (or no target) is the server default.
    await as_moderator(
        world, "limits set", {"role": world.guild.everyone, "videos_per_day": 2, "jobs_at_once": 4}
    )
    assert await store.limits_row(guild, "guild", 0) == Limits(videos_per_day=2, jobs_at_once=4)
    await as_moderator(world, "limits set", {"jobs_at_once": -1})  # cleared at this layer
    assert await store.limits_row(guild, "guild", 0) == Limits(videos_per_day=2)
    await as_moderator(world, "limits set", {"role": world.moderator_role, "videos_per_day": 9})
    await as_moderator(world, "limits set", {"user": world.member, "spend_per_day_usd": 0.5})

    both = await as_moderator(
        world, "limits set", {"user": world.member, "role": world.moderator_role, "jobs_at_once": 1}
    )
    assert "not both" in both.embed_text()
    nothing = await as_moderator(world, "limits set", {"user": world.member})
    assert "at least one limit" in nothing.embed_text()

    shown = (await as_moderator(world, "limits show", {"user": world.member})).embed_text()
    assert "Built-in (new servers)" in shown and "images/day: 25" in shown
    assert "videos/day: 2" in shown  # server default
    assert "spend/day: $0.500" in shown  # the member's own
    applies = shown.split("What applies", 1)[1]
    assert "spend/day: $0.500" in applies and "videos/day: 2" in applies
    assert "images/day: 25" in applies and "at once: 3" in applies  # built-in below
    overview = (await as_moderator(world, "limits show")).embed_text()
    assert f"<@&{world.moderator_role.id}>" in overview and f"<@{world.member.id}>" in overview
    role_view = (
        await as_moderator(world, "limits show", {"role": world.moderator_role})
    ).embed_text()
    assert "videos/day: 9" in role_view.split("What applies", 1)[1]

    await as_moderator(world, "limits reset", {"target": world.member})
    assert await store.limits_row(guild, "user", world.member.id) == Limits()
    again = await as_moderator(world, "limits reset", {"target": world.member})
    assert "nothing changed" in again.content
    await as_moderator(world, "limits reset", {"target": world.moderator_role})
    await as_moderator(world, "limits reset", {"target": world.guild.everyone})
    assert await store.all_limits(guild) == []
    actions = [e["action"] for e in await store.audit_entries(guild)]
    assert actions.count("limits.set") == 4 and actions.count("limits.reset") == 3


# -- /block, /unblock ---------------------------------------------------------------------------


async def test_block_refuses_the_member_until_unblocked(
    world: World, runtime: Runtime, store: Store
) -> None:
    message = await as_moderator(
        world, "block", {"user": world.member, "reason": "spam", "duration": "2h"}
    )
    text = message.embed_text()
    assert "Blocked" in text and "spam" in text and "<t:" in text
    block = await store.active_block(world.guild.id, world.member.id, store.clock())
    assert block is not None and block["reason"] == "spam"
    assert block["until"] == pytest.approx(store.clock() + 7200, abs=60)

    _, refused = await imagine(world, "a fox")
    assert (
        refused.ephemeral and "blocked" in refused.embed_text() and "spam" in refused.embed_text()
    )
    assert await store.count_by_state() == {}

    bad = await as_moderator(world, "block", {"user": world.member, "duration": "soon"})
    assert "can't read the duration" in bad.embed_text()
    itself = await as_moderator(world, "block", {"user": world.moderator})
    assert "yourself" in itself.embed_text()

    await as_moderator(world, "unblock", {"user": world.member})
    assert await store.active_block(world.guild.id, world.member.id, store.clock()) is None
    _, card = await imagine(world, "a fox")
    assert is_card(card)
    not_blocked = await as_moderator(world, "unblock", {"user": world.member})
    assert "was not blocked" in not_blocked.content


# -- /usage -------------------------------------------------------------------------------------


async def test_usage_counts_what_was_charged_and_not_what_was_refunded(
    world: World, runtime: Runtime, store: Store
) -> None:
    assert runtime.jobs is not None
    kept = await accept(runtime, world, "a kept fox")
    runtime.jobs.submit_soon(kept)
    refunded = await accept(runtime, world, "a dropped owl")
    await runtime.jobs.cancel(refunded.id)  # cancelled before submit: refunded
    theirs = await accept(runtime, world, "the owner's heron", user=world.owner)
    assert (await settled(store, kept.id)).state == S.DELIVERED

    message = await answer(await world.slash("usage show"))
    assert message.ephemeral and len(message.embeds) == 1  # no server view for members
    text = message.embed_text()
    assert "Images: 1 of 25 (24 left)" in text
    assert "Videos: 0 of 5 (5 left)" in text
    assert "Spend: $0.100 of $5.00 ($4.90 left)" in text
    assert "Resets <t:" in text
    assert f"#{kept.id} · {MODEL} · 1 image(s) · $0.100 · delivered" in text
    assert f"#{refunded.id} · {MODEL} · 1 image(s) · refunded · cancelled" in text
    assert f"#{theirs.id}" not in text

    week = (await answer(await world.slash("usage show", {"period": "7d"}))).embed_text()
    assert "1 job(s): 1 image(s), 0 video(s), $0.100 · 1 refunded (not counted)" in week

    for options in ({"user": world.owner}, {"export": True}):
        refused = await answer(await world.slash("usage show", options))
        assert refused.ephemeral and "Not allowed" in refused.embed_text()
        assert not refused.files

    moderator_view = await as_moderator(world, "usage show", {"user": world.member})
    assert len(moderator_view.embeds) == 2
    text = moderator_view.embed_text()
    assert "Images: 1 of 25 (24 left)" in text
    assert "Today: $0.200 of $20.00 ($19.80 left)" in text  # the guild: two charged jobs
    assert "This month: $0.200 of $200.00" in text
    top = text.split("Top users", 1)[1]
    assert f"<@{world.member.id}>" in top and f"<@{world.owner.id}>" in top


async def test_usage_export_attaches_the_periods_jobs_as_csv(
    world: World, runtime: Runtime, store: Store
) -> None:
    assert runtime.jobs is not None
    kept = await accept(runtime, world, '=HYPERLINK("x") fox')
    refunded = await accept(runtime, world, "an owl")
    await runtime.jobs.cancel(refunded.id)
    theirs = await accept(runtime, world, "a heron", user=world.owner)

    message = await as_moderator(world, "usage show", {"export": True, "period": "month"})
    file, _chart = message.files
    assert file.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(file.data.decode("utf-8-sig"))))
    assert [int(r["job_id"]) for r in rows] == [kept.id, refunded.id, theirs.id]
    by_id = {int(r["job_id"]): r for r in rows}
    assert by_id[kept.id]["cost_usd"] == "0.1000" and by_id[kept.id]["charge"] == "reserved"
    assert by_id[refunded.id]["cost_usd"] == "0.0000" and by_id[refunded.id]["charge"] == "refunded"
    assert by_id[refunded.id]["job_state"] == "cancelled"
    assert by_id[theirs.id]["user_id"] == str(world.owner.id)
    assert by_id[kept.id]["prompt"].startswith("'=HYPERLINK")  # not a formula in a spreadsheet
    assert by_id[kept.id]["model"] == MODEL and by_id[kept.id]["images"] == "1"

    one = await as_moderator(world, "usage show", {"export": True, "user": world.owner})
    only = list(csv.DictReader(io.StringIO(one.files[0].data.decode("utf-8-sig"))))
    assert [int(r["job_id"]) for r in only] == [theirs.id]
    exports = [
        e for e in await store.audit_entries(world.guild.id) if e["action"] == "usage.export"
    ]
    assert len(exports) == 2


# -- /settings ----------------------------------------------------------------------------------


async def test_settings_models_are_validated_against_the_catalogue(
    world: World, runtime: Runtime, store: Store
) -> None:
    guild = world.guild.id
    unknown = await as_moderator(world, "settings models set", {"image_default": "dall-e-9"})
    assert "Unknown model `dall-e-9`" in unknown.embed_text()
    wrong = await as_moderator(world, "settings models set", {"image_default": "veo3"})
    assert "not an image model" in wrong.embed_text()
    await as_moderator(
        world, "settings models set", {"image_default": "seedream-4.5", "video_default": "veo3"}
    )
    config = await store.guild_config(guild)
    assert (config.default_image_model, config.default_video_model) == ("seedream-4.5", "veo3")
    excluded = await as_moderator(world, "settings models set", {"allowed": "nano-banana-2, veo3"})
    assert "`seedream-4.5` is not in the allowed list" in excluded.embed_text()
    bad = await as_moderator(world, "settings models set", {"allowed": "veo3, nope"})
    assert "`nope`" in bad.embed_text()
    await as_moderator(
        world,
        "settings models set",
        {"allowed": "seedream-4.5 veo3", "image_default": "seedream-4.5"},
    )
    assert (await store.guild_config(guild)).allowed_models == {"seedream-4.5", "veo3"}
    ix = await world.slash("imagine", {"prompt": "a fox", "model": MODEL})
    assert "only these models" in (await answer(ix)).embed_text()
    await as_moderator(world, "settings models set", {"allowed": "all", "image_default": "default"})
    config = await store.guild_config(guild)
    assert config.allowed_models == frozenset() and config.default_image_model is None

    choices = await (
        await world.autocomplete(
            "settings models set",
            {"image_default": "seed"},
            focused="image_default",
            user=world.moderator,
        )
    ).choices()
    assert "seedream-4.5" in [c["value"] for c in choices]
    assert "veo3" not in [c["value"] for c in choices]
    listed = await (
        await world.autocomplete(
            "settings models set",
            {"allowed": "veo3, nano"},
            focused="allowed",
            user=world.moderator,
        )
    ).choices()
    assert listed and all(c["value"].startswith("veo3, nano") for c in listed)


async def test_settings_channels_decide_where_imagine_works(
    world: World, runtime: Runtime, store: Store
) -> None:
    await as_moderator(world, "settings channels allow", {"channel": world.art_channel})
    _, refused = await imagine(world, "a fox")
    assert "not enabled in this channel" in refused.embed_text()
    _, card = await imagine(world, "a fox", channel=world.art_channel)
    assert is_card(card)

    await as_moderator(world, "settings channels deny", {"channel": world.art_channel})
    config = await store.guild_config(world.guild.id)
    assert (config.channel_mode, config.channel_ids) == ("deny", {world.art_channel.id})
    _, refused = await imagine(world, "a fox", channel=world.art_channel)
    assert "not enabled in this channel" in refused.embed_text()

    missing = await as_moderator(world, "settings channels remove", {"channel": world.channel})
    assert "not on the list" in missing.embed_text()
    await as_moderator(world, "settings channels remove", {"channel": world.art_channel})
    assert (await store.guild_config(world.guild.id)).channel_mode == "all"

    await as_moderator(world, "settings channels allow", {"channel": world.art_channel})
    await as_moderator(world, "settings channels allow", {"channel": world.nsfw_channel})
    shown = (await as_moderator(world, "settings show")).embed_text()
    assert f"only in <#{world.art_channel.id}> <#{world.nsfw_channel.id}>" in shown
    await as_moderator(world, "settings channels all")
    config = await store.guild_config(world.guild.id)
    assert (config.channel_mode, config.channel_ids) == ("all", frozenset())


async def test_settings_words_budget_and_exempt_roles(
    world: World, runtime: Runtime, store: Store
) -> None:
    guild = world.guild.id
    added = await as_moderator(world, "settings words add", {"words": "dragon, Sea Serpent"})
    assert "added `dragon`, `Sea Serpent`" in added.embed_text()
    await as_moderator(world, "settings words add", {"words": "/b[ae]dger/"})
    broken = await as_moderator(world, "settings words add", {"words": "/([/"})
    assert "can't use" in broken.embed_text()
    _, refused = await imagine(world, "the d.r.a.g.o.n flies")
    assert "does not allow" in refused.embed_text()
    listed = (await as_moderator(world, "settings words list")).embed_text()
    assert "`dragon`" in listed and "`/b[ae]dger/`" in listed and "(3)" in listed
    await as_moderator(world, "settings words remove", {"words": "DRAGON"})
    assert (await store.guild_config(guild)).banned_words == ("Sea Serpent", "/b[ae]dger/")

    await as_moderator(world, "settings budget", {"daily_usd": 0.01, "rollover_hour": 6})
    config = await store.guild_config(guild)
    assert (config.daily_budget_usd, config.rollover_hour_utc) == (0.01, 6)
    _, refused = await imagine(world, "a fox")
    assert "budget for today" in refused.embed_text()
    await as_moderator(world, "settings budget", {"daily_usd": -1, "monthly_usd": -1})
    config = await store.guild_config(guild)
    assert (config.daily_budget_usd, config.monthly_budget_usd) == (None, None)

    await as_moderator(world, "limits set", {"images_per_day": 0})
    vip = world.add_role("VIP", 0)
    vip_member = world.add_member("vip", roles=[vip])
    _, refused = await imagine(world, "a fox", user=vip_member)
    assert "Limit reached" in refused.embed_text()
    await as_moderator(world, "settings exempt add", {"role": vip})
    _, card = await imagine(world, "a fox", user=vip_member)
    assert is_card(card)
    everyone = await as_moderator(world, "settings exempt add", {"role": world.guild.everyone})
    assert "would lift every member's limits" in everyone.embed_text()
    shown = (await as_moderator(world, "settings show")).embed_text()
    assert f"<@&{vip.id}>" in shown
    await as_moderator(world, "settings exempt remove", {"role": vip})
    assert (await store.guild_config(guild)).exempt_role_ids == frozenset()


async def test_a_pattern_that_could_freeze_the_bot_is_refused_and_nothing_is_stored(
    world: World, runtime: Runtime, store: Store
) -> None:
    """Prompts are checked on the event loop, so patterns run on RE2: one it cannot run
    (lookaround, backreferences) or not quickly is refused when added, privately, with
    what to do; a pattern stored before that is listed as not active and skipped."""
    guild = world.guild.id
    await store.update_guild_config(guild, banned_words=("dragon",))
    refused = await as_moderator(world, "settings words add", {"words": "/(?<!not )spam/"})
    text = refused.embed_text()
    assert "I can't use the pattern `/(?<!not )spam/`" in text
    assert "rewrite it without them, or add plain words instead" in text
    ix = await world.slash(
        "settings words add", {"words": "/(a)\\1/"}, user=world.moderator, locale="zh-CN"
    )
    refused = await answer(ix)
    assert refused.ephemeral and "无法使用模式 `/(a)\\1/`" in refused.embed_text()
    refused = await as_moderator(world, "settings words add", {"words": "/(.{0,100}x){10}/"})
    assert "too complex to check quickly" in refused.embed_text()
    assert (await store.guild_config(guild)).banned_words == ("dragon",)

    await store.update_guild_config(guild, banned_words=("/(?<=a)b/", "dragon"))
    listed = (await as_moderator(world, "settings words list")).embed_text()
    assert "`/(?<=a)b/` (not active)" in listed and "`dragon`," not in listed
    assert "Entries marked (not active) are not checked" in listed
    _, card = await imagine(world, "ab " * 1300)
    assert is_card(card)
    _, refused = await imagine(world, "the d r a g o n")
    assert "does not allow" in refused.embed_text()


# -- the audit channel --------------------------------------------------------------------------


async def test_the_audit_channel_hears_actions_and_refusals_without_pings(
    world: World, runtime: Runtime, store: Store
) -> None:
    await as_moderator(world, "settings audit", {"channel": world.art_channel})
    assert (await store.guild_config(world.guild.id)).audit_channel_id == world.art_channel.id
    await world.wait_for_message(
        world.art_channel, lambda m: "Audit channel changed" in m.content, kind="channel"
    )

    await as_moderator(world, "block", {"user": world.member, "reason": "spam"})
    post = await world.wait_for_message(
        world.art_channel, lambda m: "**Blocked**" in m.content, kind="channel"
    )
    assert f"by <@{world.moderator.id}>" in post.content and f"<@{world.member.id}>" in post.content
    assert "spam" in post.content

    _, refused = await imagine(world, "a fox")  # refused by JobService.accept
    assert "blocked" in refused.embed_text()
    post = await world.wait_for_message(
        world.art_channel,
        lambda m: "**Refused**" in m.content and MODEL in m.content,
        kind="channel",
    )
    assert f"for <@{world.member.id}>" in post.content and "blocked you" in post.content

    await answer(await world.slash("settings show", user=world.member))
    await world.wait_for_message(
        world.art_channel,
        lambda m: "**Refused**" in m.content and "/settings show" in m.content,
        kind="channel",
    )
    posts = world.messages(world.art_channel, kind="channel")
    assert posts
    for message in posts:
        assert message.allowed_mentions is not None
        assert message.allowed_mentions.get("parse") == []
        assert not message.allowed_mentions.get("users") and not message.allowed_mentions.get(
            "roles"
        )

    await as_moderator(world, "settings audit")  # off: stored, no longer posted
    await as_moderator(world, "unblock", {"user": world.member})
    await world.settle()
    assert not [m for m in world.messages(world.art_channel) if "Unblocked" in m.content]
    actions = [e["action"] for e in await store.audit_entries(world.guild.id)]
    assert "unblock" in actions and actions.count("settings.audit") == 2


async def test_a_burst_of_refusals_is_coalesced_into_few_audit_posts(
    world: World, runtime: Runtime, store: Store
) -> None:
    await store.update_guild_config(world.guild.id, audit_channel_id=world.art_channel.id)
    await store.block(world.guild.id, world.member.id, None, None, world.moderator.id)
    requests = [accept(runtime, world, f"fox {i}") for i in range(40)]
    results = await asyncio.gather(*requests, return_exceptions=True)
    assert all(isinstance(r, UserFacingError) for r in results)
    await world.wait_for(
        lambda: (
            sum(m.content.count("**Refused**") for m in world.messages(world.art_channel)) == 40
        ),
        what="every refusal posted",
    )
    assert len(world.messages(world.art_channel)) < 40


# -- the race -----------------------------------------------------------------------------------


async def test_a_hundred_simultaneous_imagines_against_a_limit_of_five(
    world: World, runtime: Runtime, store: Store
) -> None:
    """Exactly five pass, through real discord.py: the reservation is one transaction."""
    await as_moderator(
        world, "limits set", {"user": world.member, "images_per_day": 5, "jobs_at_once": 100}
    )
    # Discord's three-second window stays on: every one of the hundred is answered in time.
    sent = await asyncio.gather(
        *(world.slash("imagine", {"prompt": f"fox {i}"}) for i in range(100))
    )
    answers = await asyncio.gather(*(answer(ix) for ix in sent))
    cards = [m for m in answers if is_card(m)]
    refused = [m for m in answers if m.ephemeral]
    assert len(cards) == 5 and len(refused) == 95
    assert all("Limit reached" in m.embed_text() for m in refused)
    assert all("0 of 5 left today" in m.embed_text() for m in refused)
    jobs = await store.for_user(world.guild.id, world.member.id, limit=200)
    assert len(jobs) == 5
    refusals = [
        e for e in await store.audit_entries(world.guild.id, limit=500) if e["action"] == "refused"
    ]
    assert len(refusals) == 95


async def refusals(store: Store, guild_id: int, count: int) -> list[dict[str, Any]]:
    """The guild's stored refusals once there are ``count`` (the audit write follows the
    answer, so it may land a moment later)."""
    async with asyncio.timeout(10):
        while True:
            entries = await store.audit_entries(guild_id)
            found = [e for e in entries if e["action"] == "refused"]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)


async def test_refusals_outside_the_job_service_are_audited_once(
    world: World, runtime: Runtime, store: Store
) -> None:
    bad = world.attachment("notes.txt", b"hi", content_type="text/plain")
    message = await answer(await world.slash("imagine", {"prompt": "a fox", "image": bad}))
    assert message.ephemeral
    found = await refusals(store, world.guild.id, 1)
    assert found[0]["target"] == "/imagine" and found[0]["actor_id"] == world.member.user.id
    # A refusal from the job service is stored there, and not a second time here.
    await store.set_limits(world.guild.id, "guild", 0, Limits(images_per_day=0))
    await imagine(world, "a fox")
    await asyncio.sleep(0.2)
    assert len(await refusals(store, world.guild.id, 2)) == 2
