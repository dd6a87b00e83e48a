"""Budget alerts and the moderators' usage chart end to end: real discord.py against the
local Discord, the Max API simulator and the whole runtime, on a clock the test can move
to tomorrow, restarted on the same database."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from bot.discord_io.client import AtelierBot
from bot.domain.quota import Limits, period_keys
from bot.settings import Settings
from tests.discord_world import World
from tests.e2e.support import App, Clock, answer, as_moderator, card, job_id_of, refusal, started

DAY_SECONDS = 86_400
ALERT = "**Budget alert**"
CHART = "usage-30-days.png"


async def imagine(world: World, count: int = 1) -> None:
    """``count`` /imagine of the member, each accepted (its card shown) and charged $0.10."""
    for n in range(count):
        job_id_of(await card(await world.slash("imagine", {"prompt": f"fox {n}"})))


def alerts(world: World, title: str = ALERT) -> list[str]:
    """The budget alert lines posted in the audit channel so far."""
    return [
        line
        for message in world.messages(world.art_channel, kind="channel")
        for line in message.content.splitlines()
        if title in line
    ]


async def alerts_once_quiet(world: World, app: App, count: int, title: str = ALERT) -> list[str]:
    """The alert lines once ``count`` are posted and every check under way is done."""
    await world.wait_for(
        lambda: len(alerts(world, title)) >= count, what=f"{count} budget alert(s)"
    )
    assert app.runtime.budget is not None and app.runtime.audit_sink is not None
    await app.runtime.budget.idle()
    await app.runtime.audit_sink.idle()
    await world.settle()
    return alerts(world, title)


async def test_50_80_100_percent_each_alert_once_across_a_restart_and_again_tomorrow(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
) -> None:
    clock = Clock()
    async with started(run_bot, make_bot, runtime_settings, clock=clock) as first:
        await first.store.set_limits(world.guild.id, "guild", 0, Limits(jobs_at_once=10))
        await as_moderator(world, "settings audit", {"channel": world.art_channel})
        await as_moderator(world, "settings budget", {"daily_usd": 1.0})
        await imagine(world, 4)  # $0.40: 40 %
        assert await alerts_once_quiet(world, first, 0) == []
        await imagine(world)  # 50 %
        (fifty,) = await alerts_once_quiet(world, first, 1)
        assert (
            "Atelier has spent $0.50 of this server's $1.00 daily budget (50 %). New jobs are "
            "refused at 100 %; /settings budget changes it." in fifty
        )
        await imagine(world, 3)  # 80 %
        posted = await alerts_once_quiet(world, first, 2)
        assert "spent $0.80 of this server's $1.00 daily budget (80 %)" in posted[1]

    async with started(run_bot, make_bot, runtime_settings, clock=clock) as second:
        await imagine(world)  # 90 %: nothing new, though this process never posted
        assert len(await alerts_once_quiet(world, second, 2)) == 2
        await imagine(world)  # 100 %
        posted = await alerts_once_quiet(world, second, 3)
        assert (
            "spent $1.00 of this server's $1.00 daily budget (100 %). New jobs are " in (posted[2])
        )
        assert "refused until it resets <t:" in posted[2]
        refused = await refusal(await world.slash("imagine", {"prompt": "one more"}))
        assert "budget for today ($1.00) is used up" in refused
        assert len(await alerts_once_quiet(world, second, 3)) == 3  # a refusal is no alert

        clock.offset = DAY_SECONDS  # tomorrow: the day's levels start again
        await imagine(world, 5)
        posted = await alerts_once_quiet(world, second, 4)
        assert len(posted) == 4 and "spent $0.50 of this server's $1.00 daily budget" in posted[3]
        for message in world.messages(world.art_channel, kind="channel"):
            assert message.allowed_mentions is not None
            assert message.allowed_mentions.get("parse") == []


async def test_the_alert_reads_in_the_server_s_language_and_waits_for_an_audit_channel(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
) -> None:
    world.guild.locale = "zh-CN"
    async with started(run_bot, make_bot, runtime_settings) as app:
        await app.store.set_limits(world.guild.id, "guild", 0, Limits(jobs_at_once=10))
        await as_moderator(world, "settings budget", {"daily_usd": 0.5})
        await imagine(world, 3)  # 60 %, and no audit channel: nothing kept
        assert app.runtime.budget is not None
        await app.runtime.budget.idle()
        day, _ = period_keys(time.time())
        assert await app.store.budget_alerts_sent(world.guild.id, f"d:{day}") == set()
        await as_moderator(world, "settings audit", {"channel": world.art_channel})
        await imagine(world)  # 80 %: the highest level passed is posted
        (line,) = await alerts_once_quiet(world, app, 1, "**预算提醒**")
        assert "Atelier 已花费本服务器每日预算 $0.50 中的 $0.40（80 %）" in line


async def test_a_moderators_usage_carries_the_chart_and_a_members_does_not(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
) -> None:
    async with started(run_bot, make_bot, runtime_settings):
        await imagine(world, 2)
        member = await answer(await world.slash("usage show"))
        assert member.ephemeral and not member.files and len(member.embeds) == 1

        for locale in ("en-US", "zh-CN"):
            moderator = await as_moderator(world, "usage show", locale=locale)
            chart = moderator.file_named(CHART)
            picture = Image.open(io.BytesIO(chart.data))
            assert picture.format == "PNG" and picture.size == (1200, 720)
            assert moderator.embeds[1]["image"]["url"] == f"attachment://{CHART}"
        with_csv = await as_moderator(world, "usage show", {"export": True})
        assert sorted(f.filename.rsplit(".", 1)[1] for f in with_csv.files) == ["csv", "png"]
