"""The text of /queue, from plain job values: a moderator's page, a member's places, the
paging buttons' ids, in English and Chinese."""

from __future__ import annotations

from typing import Any

import pytest

from bot.discord_io.ui import CUSTOM_ID
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.text.queue_page import (
    QUEUE_BUTTON,
    member_places,
    moderator_page,
    ordinal,
    queue_button_id,
)

S = JobState
CREATED = 1_800_000_000.0
ZH = "zh-CN"


def job(id: int, state: JobState = S.RUNNING, **values: Any) -> Job:
    fields: dict[str, Any] = {
        "id": id,
        "guild_id": 10,
        "channel_id": 40,
        "user_id": 20,
        "media": "image",
        "model": "nano-banana-2",
        "prompt": "a secret lighthouse",
        "input": {},
        "price_usd": 0.04,
        "state": state,
        "created_at": CREATED,
        "updated_at": CREATED,
        "price_documented": True,
        **values,
    }
    return Job(**fields)


@pytest.mark.parametrize(
    ("number", "english"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
     (21, "21st"), (22, "22nd"), (101, "101st"), (111, "111th")],
)  # fmt: skip
def test_ordinals(number: int, english: str) -> None:
    assert ordinal(number, "en-US") == english
    assert ordinal(number, ZH) == f"第 {number} 位"


def test_a_moderators_page_names_who_where_model_state_age_and_cost() -> None:
    jobs = [
        job(12, S.QUEUED, user_id=21),
        job(13, S.SUCCEEDED, price_documented=False, price_usd=0.25),
        job(15, S.ACCEPTED, model="veo3-fast"),
    ]
    shown = moderator_page(jobs, total=23, page=2, pages=3, first_place=11, locale="en-US")
    assert shown.title == "Queue: 23 active job(s)"
    assert shown.footer == "Page 2 of 3 · oldest first"
    lines = shown.description.split("\n")
    assert lines[0] == (
        "**11.** #12 · <@21> · <#40> · `nano-banana-2` · queued · <t:1800000000:R> · $0.04"
    )
    assert lines[1].startswith("**12.** #13 · <@20>") and "finishing" in lines[1]
    assert lines[1].endswith("about $0.25 (estimate)")
    assert lines[2].startswith("**13.** #15") and "`veo3-fast` · waiting to start" in lines[2]
    assert "lighthouse" not in shown.description  # prompts are not listed
    # A result being finished or posted can no longer be stopped: no Cancel for #13.
    assert shown.cancel_ids == (12, 15)
    assert (shown.page, shown.pages) == (2, 3)


def test_an_empty_queue_says_so() -> None:
    shown = moderator_page([], total=0, page=1, pages=1, first_place=1, locale="en-US")
    assert shown.description == "The queue is empty: no job is running in this server."
    assert shown.cancel_ids == ()
    member = member_places([], total=0, locale="en-US")
    assert member.description == shown.description


def test_a_member_sees_only_their_places() -> None:
    shown = member_places([(job(12), 5), (job(30, S.QUEUED), 17)], total=17, locale="en-US")
    assert shown.title == "Your place in the queue"
    assert shown.description.split("\n")[0] == ("Your job #12 is 5th of 17 in this server's queue.")
    assert "Your job #30 is 17th of 17" in shown.description
    assert "-# queued · `nano-banana-2` · <t:1800000000:R>" in shown.description
    assert shown.cancel_ids == (12, 30)
    assert (shown.page, shown.pages) == (1, 1)

    none = member_places([], total=4, locale="en-US")
    assert none.description == "You have no job in this server's queue. It holds 4 job(s) now."


def test_the_pages_read_in_chinese() -> None:
    page = moderator_page([job(12)], total=11, page=1, pages=2, first_place=1, locale=ZH)
    assert page.title == "队列：11 个进行中的任务"
    assert page.footer == "第 1 / 2 页 · 最早的在前"
    assert "运行中" in page.description
    mine = member_places([(job(12), 5)], total=17, locale=ZH)
    assert mine.title == "你在队列中的位置"
    assert "你的任务 #12 在本服务器的队列中排第 5 位，共 17 个。" in mine.description
    empty = moderator_page([], total=0, page=1, pages=1, first_place=1, locale=ZH)
    assert empty.description == "队列是空的：本服务器没有正在进行的任务。"


def test_paging_ids_are_persistent_and_never_look_like_a_job_button() -> None:
    assert queue_button_id("next", 3) == "atelier:queue:next:3"
    assert queue_button_id("prev", 0) == "atelier:queue:prev:1"
    match = QUEUE_BUTTON.fullmatch(queue_button_id("show", 12))
    assert match is not None and (match["direction"], match["page"]) == ("show", "12")
    with pytest.raises(ValueError):
        queue_button_id("last", 1)
    # The job buttons' template must not claim these clicks (both handlers would answer).
    assert CUSTOM_ID.fullmatch(queue_button_id("next", 3)) is None
    assert QUEUE_BUTTON.fullmatch("atelier:cancel:3") is None
