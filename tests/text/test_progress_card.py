"""The progress card's words, from a job, the catalogue, a queue position and a clock."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bot.domain.catalog import Catalog
from bot.domain.job import QUEUE_COUNT_CAP, Job
from bot.domain.job_states import JobState
from bot.text.progress_card import (
    Card,
    cost_text,
    options_text,
    progress_card,
    span,
    state_text,
    tone_of,
    usd,
)

S = JobState
NOW = 1_800_000_000.0


def make_job(**values: Any) -> Job:
    base: dict[str, Any] = {
        "id": 12,
        "guild_id": 1,
        "channel_id": 2,
        "user_id": 42,
        "media": "image",
        "model": "nano-banana-2",
        "prompt": "a *bold* fox @everyone",
        "input": {"prompt": "a fox"},
        "price_usd": 0.1,
        "state": S.QUEUED,
        "created_at": NOW - 30,
        "updated_at": NOW - 5,
        "options": {"ratio": "16:9"},
    }
    base.update(values)
    return Job(**base)


def field(card: Card, name: str) -> str:
    for item in card.fields:
        if item.name == name:
            return item.value
    raise AssertionError(f"no field {name!r} in {[f.name for f in card.fields]}")


def names(card: Card) -> list[str]:
    return [f.name for f in card.fields]


def test_a_waiting_card_says_everything_a_member_asks(catalog: Catalog) -> None:
    job = make_job(state=S.QUEUED, submitted_at=NOW - 10)
    card = progress_card(job, model=catalog.get(job.model), position=2, now=NOW)
    assert card.title == "Image · job #12"
    assert card.description == r"a \*bold\* fox @everyone"  # markdown escaped
    assert field(card, "Model") == "Nano Banana 2\n`nano-banana-2`"
    assert field(card, "Options") == "ratio 16:9"
    assert field(card, "Requested by") == "<@42>"
    assert field(card, "State") == "Queued at Max API"
    assert field(card, "Queue") == "2 job(s) ahead in this server's queue"
    # Typical time 15 s from the submit: due at NOW + 5, shown as a live relative time.
    assert field(card, "Time") == f"started <t:{int(NOW - 30)}:R> · expected <t:{int(NOW + 6)}:R>"
    assert field(card, "Cost") == "about $0.10 (estimate)"
    assert card.tone == "active" and card.cancellable
    assert "Cancel" in card.footer and "#12" in card.footer


def test_a_long_queue_is_counted_only_so_far(catalog: Catalog) -> None:
    job = make_job(state=S.QUEUED, submitted_at=NOW - 10)
    card = progress_card(job, model=catalog.get(job.model), position=QUEUE_COUNT_CAP, now=NOW)
    assert field(card, "Queue") == f"{QUEUE_COUNT_CAP} or more jobs ahead in this server's queue"
    card = progress_card(job, model=catalog.get(job.model), position=0, now=NOW)
    assert field(card, "Queue") == "next in this server's queue"


def test_the_queue_line_only_while_waiting(catalog: Catalog) -> None:
    model = catalog.get("nano-banana-2")
    first = progress_card(make_job(state=S.ACCEPTED), model=model, position=0, now=NOW)
    assert field(first, "Queue") == "next in this server's queue"
    running = progress_card(make_job(state=S.RUNNING), model=model, position=3, now=NOW)
    assert "Queue" not in names(running)
    assert field(running, "State") == "Generating"


def test_a_result_queued_behind_its_channels_limit_says_so(catalog: Catalog) -> None:
    model = catalog.get("nano-banana-2")
    waiting = progress_card(make_job(state=S.SUCCEEDED), model=model, position=6, now=NOW)
    assert field(waiting, "Queue") == "posting, 6 result(s) ahead in this channel"
    posting = progress_card(make_job(state=S.DELIVERING), model=model, position=0, now=NOW)
    assert "Queue" not in names(posting)
    zh = progress_card(
        make_job(state=S.SUCCEEDED), model=model, position=2, now=NOW, locale="zh-CN"
    )
    assert field(zh, "队列") == "正在发布，此频道前面还有 2 个结果"


def test_late_jobs_say_so(catalog: Catalog) -> None:
    job = make_job(state=S.RUNNING, created_at=NOW - 600, submitted_at=NOW - 590)
    card = progress_card(job, model=catalog.get(job.model), position=None, now=NOW)
    assert field(card, "Time").endswith("taking longer than usual")


def test_delivered_card_links_the_result_and_drops_cancel(catalog: Catalog) -> None:
    job = make_job(
        state=S.DELIVERED,
        upstream_done_at=NOW - 5,
        finished_at=NOW,
        result_message_ids=[777, 778],
        price_documented=True,
    )
    card = progress_card(job, model=catalog.get(job.model), position=None, now=NOW)
    assert field(card, "State") == "Done"
    assert field(card, "Time") == "took 25 s"
    assert field(card, "Result") == "[Jump to the result](https://discord.com/channels/1/2/777)"
    assert field(card, "Cost") == "$0.10"
    assert card.tone == "done" and not card.cancellable
    assert "posted below" in card.footer


@pytest.mark.parametrize(
    ("state", "tone", "charged"),
    [
        (S.FAILED, "failed", False),
        (S.REJECTED, "failed", False),
        (S.LOST, "failed", False),
        (S.CANCELLED, "cancelled", False),
        (S.EXPIRED, "failed", True),
        (S.UNDELIVERABLE, "failed", True),
    ],
)
def test_endings_say_why_and_whether_it_was_charged(
    catalog: Catalog, state: JobState, tone: str, charged: bool
) -> None:
    job = make_job(state=state, failure_message="Max API timed out.", finished_at=NOW)
    card = progress_card(job, model=catalog.get(job.model), position=None, now=NOW)
    text = field(card, "State")
    assert "Max API timed out." in text
    assert ("You were not charged." in text) is not charged
    assert card.tone == tone and not card.cancellable


def test_not_charged_is_said_once() -> None:
    job = make_job(state=S.LOST, failure_message="Lost. You were not charged; start again.")
    assert state_text(job, None).count("not charged") == 1
    assert state_text(make_job(state=S.FAILED, failure_message=None), None).endswith(
        "No reason was given. You were not charged."
    )


def test_a_cancel_card_says_cancelled_once() -> None:
    job = make_job(state=S.CANCELLED, failure_message="Cancelled.")
    assert state_text(job, None) == "Cancelled. You were not charged."
    assert state_text(job, "zh-CN").count("取消") == 1


def test_a_reason_with_fields_is_filled_in_after_translating() -> None:
    from bot.services.job_messages import TOO_OLD_MESSAGE

    job = make_job(
        state=S.EXPIRED, failure_message=TOO_OLD_MESSAGE, failure_fields={"duration": "3 h"}
    )
    assert state_text(job, None) == (
        "Expired. Max API did not finish this job within 3 h. Atelier stopped waiting for it."
    )
    assert "Max API 未在 3 h 内完成此任务" in state_text(job, "zh-CN")


def test_unknown_or_disabled_model_still_renders() -> None:
    job = make_job(model="retired-model")
    card = progress_card(job, model=None, position=None, now=NOW)
    assert field(card, "Model") == "retired-model\n`retired-model`"
    assert field(card, "Time") == f"started <t:{int(NOW - 30)}:R>"


def test_video_images_and_long_prompts(catalog: Catalog) -> None:
    job = make_job(
        media="video",
        model="veo3_fast",
        prompt="x" * 3000,
        options={},
        image_urls=["https://a/1.png", "https://a/2.png"],
    )
    card = progress_card(job, model=catalog.get("veo3_fast"), position=None, now=NOW)
    assert card.title == "Video · job #12"
    assert len(card.description) == 1000 and card.description.endswith("…")
    assert field(card, "Options") == "2 image(s)"


def test_small_pieces() -> None:
    assert usd(0.1) == "$0.10"
    assert usd(0.0012) == "$0.0012"
    assert usd(1.5) == "$1.50"
    assert usd(0) == "$0.00"
    assert span(5) == "5 s"
    assert span(125) == "2 min 5 s"
    assert span(120) == "2 min"
    assert span(3720) == "1 h 2 min"
    assert options_text({}, [], None) == "the model's defaults"
    one_image = ["https://cdn.discordapp.com/attachments/1/2/cat.png"]
    assert options_text({"count": 2, "ratio": None}, one_image, None) == "count 2 · 1 image(s)"
    documented = dataclasses.replace(make_job(), price_documented=True, price_usd=0.0012)
    assert cost_text(documented, None) == "$0.0012"
    assert tone_of(S.SUBMITTING) == "active"


def test_the_card_counts_inputs_by_kind() -> None:
    """A Seedance job with reference images, a video and a sound says so, not "4 images"."""
    base = "https://cdn.discordapp.com/attachments/1/2/"
    inputs = [base + "a.png", base + "b.webp", base + "walk.mp4", base + "beat.mp3"]
    assert options_text({}, inputs, None) == "2 image(s) · 1 video(s) · 1 audio file(s)"
    assert options_text({}, inputs, "zh-CN") == "2 张图片 · 1 个视频 · 1 个音频文件"
    assert options_text({}, [base + "walk.mov"], None) == "1 video(s)"
