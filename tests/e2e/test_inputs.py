"""Inputs and answers that used to slip through, end to end through real discord.py, the
local Discord and the Max API simulator: broken or invisible prompts, a file named
``.png`` whose bytes are not an image, and a Max API that answers a submit busy.

A refusal is one private sentence, records nothing, sends nothing and logs no traceback."""

from __future__ import annotations

import logging

import pytest

from bot.domain.job_states import JobState
from bot.domain.quota import period_keys
from simulator import Simulator
from tests.discord_world import World
from tests.e2e.support import (
    App,
    card,
    job_id_of,
    nothing_happened,
    refusal,
    run_to_the_end,
    settled,
)

S = JobState
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ZH = "zh-CN"


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


# -- prompts -----------------------------------------------------------------------------


async def test_an_unpaired_surrogate_is_refused_in_one_sentence(
    world: World, sim: Simulator, app: App, caplog: pytest.LogCaptureFixture
) -> None:
    ix = await world.slash("imagine", {"prompt": "a cat \ud800 on a mat"})
    text = await refusal(ix)
    assert "Something went wrong" not in text
    assert "“prompt” holds a broken character" in text and "Retype it" in text
    zh = await world.slash("video", {"prompt": "\udfff"}, locale=ZH)
    assert "残缺的字符" in await refusal(zh)
    ac = await world.autocomplete("imagine", {"prompt": "\ud800", "model": "see"}, "model")
    assert await ac.choices() == []
    await nothing_happened(app, sim)
    no_traceback(caplog)


async def test_a_moderator_command_with_a_surrogate_is_refused_not_crashed(
    world: World, sim: Simulator, app: App, caplog: pytest.LogCaptureFixture
) -> None:
    ix = await world.slash(
        "block", {"user": world.member, "reason": "spam \udc00"}, user=world.moderator
    )
    text = await refusal(ix)
    assert "“reason” holds a broken character" in text
    assert await app.store.active_block(world.guild.id, world.member.id, 0.0) is None
    no_traceback(caplog)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("\u200b\u200d\u2060\ufeff\ufe0f", "empty once invisible characters are removed"),
        (" \u200b \u3000 ", "empty once invisible characters are removed"),
        ("a cat\x07", "control character (U+0007)"),
    ],
    ids=["invisible", "blank-and-invisible", "control"],
)
async def test_an_invisible_or_control_prompt_is_refused_and_costs_nothing(
    world: World,
    sim: Simulator,
    app: App,
    caplog: pytest.LogCaptureFixture,
    prompt: str,
    expected: str,
) -> None:
    ix = await world.slash("imagine", {"prompt": prompt})
    assert expected in await refusal(ix)
    zh = await world.slash("imagine", {"prompt": prompt}, locale=ZH)
    assert "提示词" in await refusal(zh)
    await nothing_happened(app, sim)
    no_traceback(caplog)


async def test_a_prompt_keeps_its_emoji_and_loses_only_outer_blanks(
    world: World, sim: Simulator, app: App
) -> None:
    ix = await world.slash("imagine", {"prompt": "\u200b a 👩\u200d🎨 with ❤\ufe0f\u200b "})
    job, _ = await run_to_the_end(world, app, ix)
    assert job.prompt == "a 👩\u200d🎨 with ❤\ufe0f"
    assert sim.submissions[0].body["input"]["prompt"] == "a 👩\u200d🎨 with ❤\ufe0f"


# -- attachments ---------------------------------------------------------------------------


async def test_a_png_whose_bytes_are_not_an_image_is_refused_by_name(
    world: World, sim: Simulator, app: App, caplog: pytest.LogCaptureFixture
) -> None:
    fake = world.attachment("photo.png", b"<html>" + b"x" * 500, content_type="image/png")
    ix = await world.slash("imagine", {"prompt": "like this", "image": fake})
    text = await refusal(ix)
    assert (
        "photo.png is not an image Atelier can use (its bytes are not PNG, JPEG, WebP or GIF)."
        in text
    )
    assert fake.fetches == ["bytes=0-63"], "one small ranged request"
    zh = world.attachment("照片.png", b"GIF00a" + b"\x00" * 60, content_type="image/png")
    ix = await world.slash("imagine", {"prompt": "x", "image": zh}, locale=ZH)
    assert "照片.png 不是 Atelier 能用的图片" in await refusal(ix)
    await nothing_happened(app, sim)
    no_traceback(caplog)


async def test_an_attachment_that_cannot_be_read_is_refused(
    world: World, sim: Simulator, app: App
) -> None:
    gone = world.attachment("cat.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
    del world.files_by_id[gone.id]  # its link answers 404
    ix = await world.slash("imagine", {"prompt": "like this", "image": gone})
    assert "could not read cat.png from Discord" in await refusal(ix)
    await nothing_happened(app, sim)


async def test_real_images_pass_with_one_ranged_read_each(
    world: World, sim: Simulator, app: App
) -> None:
    # Above $0.50 a job asks Confirm first (tests/e2e/test_confirm.py): not this test.
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=0.0)
    first = world.attachment("a.png", PNG, content_type="image/png")
    last = world.attachment("b.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 60)
    options = {"prompt": "walk [sim:seconds=1]", "model": "veo3_fast", "image": first}
    ix = await world.slash("video", {**options, "image2": last})
    message = await card(ix)
    assert first.fetches == ["bytes=0-63"] and last.fetches == ["bytes=0-63"]
    job = await settled(app.store, job_id_of(message))
    assert job.image_urls == [first.url, last.url]


# -- Max API busy ----------------------------------------------------------------------------


async def test_a_submit_answered_429_twice_waits_and_is_delivered_once(
    world: World, sim: Simulator, app: App
) -> None:
    sim.faults.rate_limit_next(2, retry_after=1, endpoint="submit")
    ix = await world.slash("imagine", {"prompt": "patience [sim:seconds=1]"})
    message = await card(ix)
    waiting = await ix.wait_original(lambda m: "Waiting for Max API" in m.embed_text())
    assert "next in this server's queue" in waiting.embed_text()  # it keeps its place
    job, _ = await run_to_the_end(world, app, ix)
    assert job.id == job_id_of(message)
    assert [r.status for r in sim.submissions] == [429, 429, 200] and len(sim.tasks) == 1
    results = [m for m in world.messages(world.channel, kind="channel") if m.files]
    assert len(results) == 1


async def test_a_submit_busy_past_its_budget_ends_refunded(
    world: World, sim: Simulator, app: App
) -> None:
    app.runtime.jobs.busy.budget = 1.5  # 2 minutes by default
    sim.faults.busy_next(10, retry_after=1, endpoint="submit")
    ix = await world.slash("imagine", {"prompt": "never"}, locale=ZH)
    message = await card(ix)
    job = await settled(app.store, job_id_of(message))
    assert job.state == S.REJECTED and job.failure_reason == "MAX_API_BUSY"
    ended = await ix.wait_original(lambda m: "Max API 持续繁忙了" in m.embed_text())
    assert "没有被扣费" in ended.embed_text()
    day, _ = period_keys(job.created_at)
    [charge] = await app.store.charges_in(world.guild.id, day, day)
    assert charge["state"] == "refunded"
    assert not sim.tasks
