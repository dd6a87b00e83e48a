"""``/usage grant`` and ``/usage refund`` end to end: real discord.py against the local
Discord, the Max API simulator and the whole runtime, on a clock the test can move to
tomorrow."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from bot.domain.catalog import GenerationRequest
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.domain.quota import Charge, Grant, Limits, period_keys
from bot.services.jobs import Requester
from bot.store import Store
from tests.discord_world import Member, Message, World
from tests.e2e.support import (
    App,
    Clock,
    answer,
    as_moderator,
    card,
    job_id_of,
    refusal,
    run_to_the_end,
)
from tests.helpers.store import job_values

S = JobState
ZH = "zh-CN"
DAY_SECONDS = 86_400
PRICE = "$0.100"  # nano-banana-2, the server's default image model here


@pytest.fixture
def store(app: App) -> Store:
    return app.store


async def imagine(world: World, prompt: str, locale: str = "en-US") -> Any:
    return await world.slash("imagine", {"prompt": prompt}, locale=locale)


async def delivered_job(world: World, app: App, prompt: str, locale: str = "en-US") -> Job:
    job, _ = await run_to_the_end(world, app, await imagine(world, prompt, locale))
    return job


def csv_rows(message: Message) -> list[dict[str, str]]:
    (file,) = [f for f in message.files if f.filename.endswith(".csv")]
    return list(csv.DictReader(io.StringIO(file.data.decode("utf-8-sig"))))


async def test_a_grant_lets_an_over_limit_member_make_one_more_today_not_tomorrow(
    world: World, app: App, store: Store, clock: Clock
) -> None:
    guild = world.guild.id
    limits = Limits(images_per_day=1, jobs_at_once=10)
    await store.set_limits(guild, "user", world.member.id, limits)
    job_id_of(await card(await imagine(world, "a fox")))
    assert "0 of 1 left" in await refusal(await imagine(world, "an owl"))

    granted = await as_moderator(
        world, "usage grant", {"user": world.member, "images": 1, "reason": "contest winner"}
    )
    text = granted.embed_text()
    assert "Allowance granted" in text and "+1 image(s) for today only" in text
    assert "Images: 1 of 2 (1 left)" in text

    job_id_of(await card(await imagine(world, "an owl")))
    assert "0 of 2 left" in await refusal(await imagine(world, "a heron"))
    mine = (await answer(await world.slash("usage show"))).embed_text()
    assert "Images: 2 of 2 (0 left)" in mine
    assert "Granted by a moderator for today: +1 image(s)" in mine
    (entry,) = [e for e in await store.audit_entries(guild) if e["action"] == "usage.grant"]
    assert entry["actor_id"] == world.moderator.id and entry["target"] == f"user:{world.member.id}"
    assert "+1 image(s)" in entry["detail"]["summary"]
    assert "contest winner" in entry["detail"]["summary"]

    clock.offset = DAY_SECONDS  # tomorrow: the limit again, without the grant
    job_id_of(await card(await imagine(world, "tomorrow's fox")))
    assert "0 of 1 left" in await refusal(await imagine(world, "tomorrow's owl"))
    tomorrow = (await answer(await world.slash("usage show"))).embed_text()
    assert "Images: 1 of 1 (0 left)" in tomorrow and "Granted" not in tomorrow


async def test_grants_of_one_day_add_up_and_show_in_the_export(
    world: World, app: App, store: Store
) -> None:
    await as_moderator(world, "usage grant", {"user": world.member, "images": 2})
    second = await as_moderator(
        world, "usage grant", {"user": world.member, "videos": 1, "usd": 1.5}
    )
    assert "Granted today in all: +2 image(s), +1 video(s), +$1.50 spend" in second.embed_text()
    assert "Videos: 0 of 6 (6 left)" in second.embed_text()
    assert "Spend: $0.00 of $6.50 ($6.50 left)" in second.embed_text()
    day, _ = period_keys(store.clock())
    assert await store.grant(world.guild.id, world.member.id, day) == Grant(2, 1, 1.5)

    export = await as_moderator(world, "usage show", {"export": True})
    (row,) = csv_rows(export)
    assert (row["charge"], row["job_id"], row["user_id"]) == ("grant", "", str(world.member.id))
    assert (row["granted_images"], row["granted_videos"], row["granted_usd"]) == (
        "2",
        "1",
        "1.5000",
    )
    theirs = await as_moderator(world, "usage show", {"export": True, "user": world.owner})
    assert csv_rows(theirs) == []  # another member's export has no grant of this one


async def test_a_refund_gives_the_cost_back_once_and_tells_the_member(
    world: World, app: App, store: Store
) -> None:
    guild = world.guild.id
    job, result = await run_to_the_end(world, app, await imagine(world, "a *blurry* fox"))
    before = (await answer(await world.slash("usage show"))).embed_text()
    assert f"Spend: {PRICE} of $5.00" in before

    offered = await world.autocomplete(
        "usage refund", {"job": str(job.id)}, focused="job", user=world.moderator
    )
    (choice,) = await offered.choices()
    assert choice["value"] == job.id and f"nano-banana-2 · {PRICE}" in choice["name"]
    assert "blurry" not in choice["name"]  # no prompt: its channel may be hidden
    members = await world.autocomplete("usage refund", {"job": ""}, focused="job")
    assert await members.choices() == []

    done = await as_moderator(world, "usage refund", {"job": job.id, "reason": "blurry result"})
    text = done.embed_text()
    assert "Job refunded" in text and f"Job #{job.id} of <@{world.member.id}>: {PRICE}" in text
    assert f"They were told in <#{world.channel.id}>." in text

    notice = await world.wait_for_message(world.channel, lambda m: "refunded your job" in m.content)
    assert notice.content.startswith(
        f"<@{world.member.id}> a moderator refunded your job #{job.id}"
    )
    assert "\\*blurry\\*" in notice.content  # the prompt, shown as typed
    assert "Reason: blurry result" in notice.content
    assert notice.allowed_mentions is not None
    assert [int(u) for u in notice.allowed_mentions.get("users", [])] == [world.member.id]
    assert notice.message_reference is not None
    assert int(notice.message_reference["message_id"]) == result.id

    mine = (await answer(await world.slash("usage show"))).embed_text()
    assert "Images: 0 of 25 (25 left)" in mine and "Spend: $0.00 of $5.00" in mine
    assert f"#{job.id} · nano-banana-2 · 1 image(s) · refunded by <@{world.moderator.id}>" in mine
    server = (await as_moderator(world, "usage show", {})).embed_text()
    assert "Today: $0.00 of $20.00" in server
    day, month = period_keys(store.clock())
    usage = await store.usage(guild, world.member.id, day, month)
    assert usage.guild_spend_today_usd == pytest.approx(0.0)
    assert usage.guild_spend_month_usd == pytest.approx(0.0)

    again = await answer(await world.slash("usage refund", {"job": job.id}, user=world.moderator))
    assert again.ephemeral
    assert f"Job #{job.id} was refunded already, by <@{world.moderator.id}>" in again.embed_text()
    gone = await world.autocomplete(
        "usage refund", {"job": ""}, focused="job", user=world.moderator
    )
    assert await gone.choices() == []  # refunded: nothing left to give back
    notices = world.messages(world.channel)
    assert len([m for m in notices if "refunded your job" in m.content]) == 1

    export = await as_moderator(world, "usage show", {"export": True})
    (row,) = csv_rows(export)
    assert (row["job_id"], row["charge"], row["cost_usd"]) == (str(job.id), "refunded", "0.0000")
    assert (row["refunded_by"], row["refund_reason"]) == (str(world.moderator.id), "blurry result")
    refunds = [e for e in await store.audit_entries(guild) if e["action"] == "usage.refund"]
    assert len(refunds) == 1 and "blurry result" in refunds[0]["detail"]["summary"]


async def test_refunds_and_grants_that_cannot_be_given_say_why_and_change_nothing(
    world: World, app: App, store: Store
) -> None:
    guild = world.guild.id
    assert app.runtime.jobs is not None
    requester = Requester(guild_id=guild, channel_id=world.channel.id, user_id=world.member.id)
    waiting = await app.runtime.jobs.accept(GenerationRequest("nano-banana-2", "a fox"), requester)
    cancelled = await app.runtime.jobs.accept(GenerationRequest("nano-banana-2", "owl"), requester)
    await app.runtime.jobs.cancel(cancelled.id)  # before submit: refunded at once
    elsewhere = await store.create_job_with_charge(
        job_values(guild_id=guild + 1),
        Charge(1, 0, 0.5),
        period_keys(store.clock()),
        lambda _: None,
    )
    day, month = period_keys(store.clock())
    spent = (await store.usage(guild, world.member.id, day, month)).guild_spend_today_usd

    cases = [
        (waiting.id, f"Job #{waiting.id} has not finished"),
        (cancelled.id, f"Job #{cancelled.id} was never charged"),
        (elsewhere.id, f"There is no job #{elsewhere.id} in this server."),
        (10_000_000, "There is no job #10000000 in this server."),
    ]
    for job_id, says in cases:
        message = await as_moderator(world, "usage refund", {"job": job_id})
        assert says in message.embed_text(), message.embed_text()
    after = await store.usage(guild, world.member.id, day, month)
    assert after.guild_spend_today_usd == pytest.approx(spent)

    nothing = await as_moderator(world, "usage grant", {"user": world.member})
    assert "Give at least one of images, videos or usd" in nothing.embed_text()
    helper: Member = world.add_member("helper")
    helper.user.bot = True
    a_bot = await as_moderator(world, "usage grant", {"user": helper, "images": 1})
    assert "Bots don't use Atelier" in a_bot.embed_text()
    for name, options in (
        ("usage grant", {"user": world.member, "images": 5}),
        ("usage refund", {"job": waiting.id}),
    ):
        refused = await answer(await world.slash(name, options, user=world.member))
        assert refused.ephemeral and "Manage Server" in refused.embed_text()
    assert await store.grant(guild, world.member.id, day) == Grant()
    assert not [e for e in await store.audit_entries(guild) if e["action"].startswith("usage.")]


async def test_grant_and_refund_in_chinese(world: World, app: App, store: Store) -> None:
    job = await delivered_job(world, app, "一只狐狸", locale=ZH)
    granted = await as_moderator(
        world, "usage grant", {"user": world.member, "images": 3}, locale=ZH
    )
    assert "已增加额度" in granted.embed_text() and "+3 张图片" in granted.embed_text()
    done = await as_moderator(world, "usage refund", {"job": job.id}, locale=ZH)
    assert "任务已退款" in done.embed_text()
    notice = await world.wait_for_message(world.channel, lambda m: "退款" in m.content)
    assert f"管理员已为你的任务 #{job.id}" in notice.content
    mine = (await answer(await world.slash("usage show", locale=ZH))).embed_text()
    assert "管理员为今天赠予：+3 张图片" in mine and "已由" in mine
    again = await as_moderator(world, "usage refund", {"job": job.id}, locale=ZH)
    assert "已经退过款" in again.embed_text()
