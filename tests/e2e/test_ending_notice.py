"""What members read around a job's cost and end, through real discord.py and the local
Discord: the ending notice shows the member's prompt as plain text (no masked link or
mention in the bot's voice), and ``/models`` says what a cancel costs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from bot.discord_io.client import AtelierBot
from bot.domain.catalog import Catalog, GenerationRequest
from bot.runtime import Runtime
from bot.services.jobs import Requester
from bot.settings import Settings
from bot.text.model_pages import CANCEL_POLICIES
from tests.discord_world import World
from tests.e2e.support import answer
from tests.helpers.jobs import lift_limits

MODEL = "nano-banana-2"


async def test_the_ending_notice_posts_the_prompt_escaped(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
) -> None:
    prompt = "[free credits](https://evil.example) @everyone **now** [sim:fail]"
    async with Runtime(runtime_settings, Catalog.load()) as runtime:
        assert runtime.jobs is not None and runtime.store is not None
        await lift_limits(runtime.store, world.guild.id)
        async with run_bot(make_bot(services=runtime.services())):
            requester = Requester(
                guild_id=world.guild.id, channel_id=world.channel.id, user_id=world.member.id
            )
            job = await runtime.jobs.accept(GenerationRequest(MODEL, prompt, {}), requester)
            runtime.jobs.submit_soon(job)
            notice = await world.wait_for_message(
                world.channel, lambda m: f"job #{job.id}" in m.content, timeout=20
            )
    assert notice.content.startswith(f"<@{world.member.id}> ")
    assert r"\[free credits\](https://evil.example)" in notice.content
    assert "[free credits](" not in notice.content
    assert "@\u200beveryone" in notice.content and r"\*\*now\*\*" in notice.content
    assert notice.allowed_mentions is not None
    assert notice.allowed_mentions["parse"] == []  # no @everyone, @here or roles
    assert [int(u) for u in notice.allowed_mentions["users"]] == [world.member.id]


@pytest.mark.parametrize("mode", ["pending", "always", "never"])
async def test_models_says_what_a_cancel_costs(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    make_services: Callable[..., Any],
    settings: Settings,
    mode: str,
) -> None:
    services = make_services(settings=dataclasses.replace(settings, cancel_refunds=mode))
    async with run_bot(make_bot(services=services)):
        page = await answer(await world.slash("models"))
        assert page.embeds[0]["description"] == CANCEL_POLICIES[mode]
        page_zh = await answer(await world.slash("models", locale="zh-CN"))
        assert "取消" in page_zh.embeds[0]["description"]
