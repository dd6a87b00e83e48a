"""zh-CN end to end: what the bot syncs and what a member whose client speaks Chinese
reads, through real discord.py, the local Discord, the Max API simulator and the whole
:class:`~bot.runtime.Runtime` — and that an en-US member in the same server still
reads English."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import pytest

from bot.discord_io.client import AtelierBot
from bot.domain.catalog import Catalog
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.domain.quota import Limits
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import Store
from simulator import Simulator
from tests.discord_world import InjectedInteraction, Member, Message, World
from tests.e2e.support import answer
from tests.helpers.jobs import lift_limits

S = JobState
SCALE = 0.01
ZH = "zh-CN"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
async def runtime(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    settings: Settings,
    sim: Simulator,
) -> AsyncIterator[Runtime]:
    """The app as ``python -m bot`` starts it, with no limits in the test guild."""
    wired = dataclasses.replace(settings, maxapi_base_url=sim.base_url, poll_scale=SCALE)
    async with Runtime(wired, Catalog.load(), progress_interval=0.2) as started:
        await lift_limits(store_of(started), world.guild.id)
        async with run_bot(make_bot(services=started.services())):
            yield started


@pytest.fixture
def english(world: World) -> Member:
    """A second plain member, whose client is set to en-US."""
    return world.add_member("ada")


def store_of(runtime: Runtime) -> Store:
    assert runtime.store is not None
    return runtime.store


async def job_when(store: Store, job_id: int, ok: Callable[[Job], bool]) -> Job:
    async with asyncio.timeout(20):
        while True:
            job = await store.get(job_id)
            if job is not None and ok(job):
                return job
            await asyncio.sleep(0.02)


async def refusal(ix: InjectedInteraction) -> tuple[str, str]:
    """(title, description) of the ephemeral error embed that answered ``ix``."""
    callback = await ix.wait_response()
    assert callback.ephemeral, f"expected an ephemeral refusal, got {callback.data}"
    assert ix.original is not None
    (embed,) = ix.original.embeds
    return embed["title"], embed["description"]


async def card(ix: InjectedInteraction) -> tuple[Message, int]:
    """The public progress card that answered a generation command, and its job id."""
    callback = await ix.wait_response()
    assert callback.type == 4 and not callback.ephemeral, callback.data
    assert ix.original is not None
    (cancel,) = [c for c in ix.original.custom_ids() if c.startswith("atelier:cancel:")]
    return ix.original, int(cancel.rsplit(":", 1)[1])


def fields(message: Message) -> dict[str, str]:
    (embed,) = message.embeds
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def labels(message: Message) -> list[str]:
    return [b.get("label", "") for b in message.buttons()]


def valid_name(name: str) -> bool:
    """Discord: ``^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$``, lowercase."""
    return (
        1 <= len(name) <= 32
        and name == name.lower()
        and all(c in "-_" or unicodedata.category(c)[0] in "LN" for c in name)
    )


# -- what is synced -----------------------------------------------------------------------


async def test_every_synced_command_and_option_is_described_in_chinese(
    world: World, runtime: Runtime
) -> None:
    """Read back from the local Discord's bulk overwrite: every command, group,
    subcommand and option has a zh-CN description; every option a valid zh-CN name;
    command names stay English; choices are localised unless they are language-neutral
    (model labels, ratios, resolutions, seconds)."""
    commands = world.commands()
    assert len(commands) >= 15 and world.command_syncs
    seen = {"described": 0, "named": 0, "choices": 0}

    def check(entry: dict[str, Any], path: str) -> None:
        description = entry.get("description_localizations", {}).get(ZH)
        assert description and HAN.search(description), f"{path}: no zh-CN description"
        assert len(description) <= 100, f"{path}: {description!r}"
        seen["described"] += 1
        localised_name = (entry.get("name_localizations") or {}).get(ZH)
        if entry.get("type", 1) in (1, 2):  # a command, group or subcommand
            assert localised_name is None, f"{path} renamed to {localised_name!r}"
        else:
            assert localised_name and valid_name(localised_name), f"{path}: {localised_name!r}"
            seen["named"] += 1
        for choice in entry.get("choices", []):
            name = (choice.get("name_localizations") or {}).get(ZH)
            neutral = entry["name"] in {"model", "ratio", "resolution", "duration"}
            if not neutral:
                assert name and HAN.search(name), f"{path} choice {choice['name']!r}"
                assert len(name) <= 100
                seen["choices"] += 1
        names = [(o.get("name_localizations") or {}).get(ZH) for o in entry.get("options", [])]
        names = [n for n in names if n]
        assert len(names) == len(set(names)), f"{path}: two options share a zh-CN name"
        for option in entry.get("options", []):
            check(option, f"{path} {option['name']}")

    for command in commands:
        assert not (command.get("name_localizations") or {}).get(ZH), command["name"]
        if command.get("type", 1) != 1:
            continue  # a message command ("Edit with Atelier") has no description
        check(command, "/" + command["name"])
    assert seen["described"] > 120 and seen["named"] > 90 and seen["choices"] >= 10, seen
    imagine = world.command("imagine")
    assert imagine["description_localizations"][ZH] == "根据提示词生成图片，或编辑你附加的图片"
    prompt = imagine["options"][0]
    assert prompt["name_localizations"][ZH] == "提示词"
    assert world.command("seedream")["description_localizations"][ZH] == "用 Seedream 生成图片"


# -- refusals -----------------------------------------------------------------------------


async def test_a_forbidden_option_is_refused_in_the_members_language(
    world: World, sim: Simulator, runtime: Runtime, english: Member
) -> None:
    wrong = {"prompt": "a cat", "model": "nano-banana", "ratio": "1:1"}
    ix = await world.slash("imagine", wrong, locale=ZH, strict=False)
    assert await refusal(ix) == (
        "无法执行",
        "nano-banana 的比例只能是 16:9, 9:16；'1:1' 不在其中。",
    )
    ix = await world.slash("imagine", {"prompt": "a cat", "count": 4}, locale=ZH)
    title, text = await refusal(ix)
    assert title == "无法执行" and "每个任务只生成一个结果" in text
    ix = await world.slash("grok", {"prompt": "a dance", "mode": "spicy", "duration": 6}, locale=ZH)
    assert "只能在年龄限制频道中使用" in (await refusal(ix))[1]

    ix = await world.slash("imagine", wrong, user=english, strict=False)
    assert await refusal(ix) == (
        "Can't do that",
        "nano-banana takes ratio 16:9, 9:16; '1:1' is not one of them.",
    )
    world.set_bot_deny(world.art_channel, discord.Permissions(attach_files=True).value)
    ix = await world.slash("imagine", {"prompt": "a cat"}, channel=world.art_channel, locale=ZH)
    title, text = await refusal(ix)
    assert title == "我无法在这里发布" and "附加文件" in text and "Attach" not in text
    assert await store_of(runtime).count_by_state() == {}
    assert not sim.submissions


async def test_a_limit_is_explained_in_chinese_with_its_numbers(
    world: World, runtime: Runtime, english: Member
) -> None:
    store = store_of(runtime)
    for who in (world.member, english):
        await store.set_limits(world.guild.id, "user", who.id, Limits(jobs_at_once=1))
        ix = await world.slash("imagine", {"prompt": "a slow owl [sim:hold]"}, user=who, locale=ZH)
        await card(ix)
    ix = await world.slash("imagine", {"prompt": "one more"}, locale=ZH)
    title, text = await refusal(ix)
    assert title == "已达限额"
    assert text.startswith("你已有 1 个任务在运行（上限为 1）。") and "/cancel" in text
    ix = await world.slash("imagine", {"prompt": "one more"}, user=english)
    title, text = await refusal(ix)
    assert (title, text[:50]) == (
        "Limit reached",
        "You already have 1 job(s) running (the limit is 1)",
    )


# -- the progress card and the result ----------------------------------------------------


async def test_the_progress_card_and_the_result_speak_the_requesters_language(
    world: World, runtime: Runtime, english: Member
) -> None:
    zh_ix = await world.slash("imagine", {"prompt": "a red fox [sim:seconds=2]"}, locale=ZH)
    en_ix = await world.slash("imagine", {"prompt": "a blue fox [sim:seconds=2]"}, user=english)
    zh_card, zh_id = await card(zh_ix)
    en_card, en_id = await card(en_ix)

    assert zh_card.embeds[0]["title"] == f"图片 · 任务 #{zh_id}"
    assert {"模型", "选项", "发起人", "状态", "时间", "费用"} <= set(fields(zh_card))
    assert labels(zh_card) == ["取消"]
    assert "点“取消”即可停止" in zh_card.embeds[0]["footer"]["text"]
    assert en_card.embeds[0]["title"] == f"Image · job #{en_id}"
    assert {"Model", "Options", "Requested by", "State", "Time", "Cost"} <= set(fields(en_card))
    assert labels(en_card) == ["Cancel"]

    store = store_of(runtime)
    zh_job = await job_when(store, zh_id, lambda j: j.state == S.DELIVERED)
    en_job = await job_when(store, en_id, lambda j: j.state == S.DELIVERED)
    done = await zh_ix.wait_original(lambda m: fields(m).get("状态") == "完成")
    assert "跳转到结果" in fields(done)["结果"]
    await en_ix.wait_original(lambda m: fields(m).get("State") == "Done")

    zh_result = world.message(zh_job.result_message_ids[-1])
    assert labels(zh_result) == [
        "重新生成",
        "改写重做",
        "变体",
        "做成视频",
        "放大",
        "详情",
        "删除",
        "举报",
    ]
    assert zh_result.content.rstrip().endswith(f"job #{zh_id}")  # the marker stays English
    en_result = world.message(en_job.result_message_ids[-1])
    en_labels = ["Reroll", "Remix", "Variations", "Animate", "Upscale", "Info", "Delete", "Report"]
    assert labels(en_result) == en_labels


async def test_a_failure_is_stored_in_english_and_shown_in_chinese(
    world: World, runtime: Runtime
) -> None:
    prompt = "a castle [sim:fail=CONTENT_MODERATION]"
    ix = await world.slash("imagine", {"prompt": prompt}, locale=ZH)
    _, job_id = await card(ix)
    job = await job_when(store_of(runtime), job_id, lambda j: j.state.is_terminal)
    assert job.state == S.FAILED and job.failure_message is not None
    assert job.failure_message.startswith("Max API's moderation refused")  # kept in English
    shown = await ix.wait_original(lambda m: fields(m).get("状态", "").startswith("失败"))
    state = fields(shown)["状态"]
    assert "Max API 的审核拒绝了提示词或图片" in state and "你没有被扣费。" in state


# -- /jobs, /models, /usage ------------------------------------------------------------------


async def test_jobs_in_chinese_and_in_english(
    world: World, runtime: Runtime, english: Member
) -> None:
    ix = await world.slash("imagine", {"prompt": "a slow owl [sim:hold]"}, locale=ZH)
    _, held = await card(ix)
    await job_when(store_of(runtime), held, lambda j: j.state == S.RUNNING)
    message = await answer(await world.slash("jobs", locale=ZH))
    assert message.ephemeral
    text = message.embed_text()
    assert message.embeds[0]["title"] == "你的任务"
    assert "第 1 页，共 1 页" in text and "运行中" in text and "a slow owl" in text
    assert labels(message) == [f"取消 #{held}"]
    cancelled = await answer(await world.slash("cancel", {"job": held}, locale=ZH))
    assert cancelled.content == "已取消。Max API 已经开始处理它，所以你仍被扣费。"  # it was running
    again = await answer(await world.slash("cancel", {"job": held}, locale=ZH))
    assert again.content == f"任务 {held} 的状态已是：已取消。"  # stored English, read back

    empty = await answer(await world.slash("jobs", user=english))
    assert empty.embeds[0]["title"] == "Your jobs"
    assert "You have no jobs yet" in empty.embed_text()
    empty_zh = await answer(await world.slash("jobs", user=english, locale=ZH))
    assert "你还没有任务" in empty_zh.embed_text()


async def test_models_and_usage_in_chinese(world: World, runtime: Runtime) -> None:
    models = await answer(await world.slash("models", locale=ZH))
    assert models.embeds[0]["title"] == "模型"
    assert "每张图片" in models.embed_text() and "价格单位为美元" in models.embed_text()
    assert labels(models) == ["上一页", "下一页"]

    usage = await answer(await world.slash("usage show", {"period": "7d"}, locale=ZH))
    text = usage.embed_text()
    assert "的用量" in usage.embeds[0]["title"]
    assert "最近的任务（最近 7 天）" in text and "该时段没有任务。" in text
