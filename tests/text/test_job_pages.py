"""The text of /jobs, /cancel and /show, from plain job values."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bot.domain.job import Job
from bot.domain.job_states import TERMINAL, JobState
from bot.text.job_pages import (
    CANCELLABLE,
    CHOICE_LIMIT,
    STATE_LABELS,
    can_manage,
    cancel_text,
    choice_label,
    duration,
    history_text,
    job_line,
    matches,
    page_count,
    short_prompt,
    show_label,
    show_refusal,
)

S = JobState
NOW = 1_800_000_000.0
GUILD, OWNER, OTHER = 10, 20, 30


def job(id: int = 1, state: JobState = S.RUNNING, **values: Any) -> Job:
    base = Job(
        id=id,
        guild_id=GUILD,
        channel_id=40,
        user_id=OWNER,
        media="image",
        model="nano-banana-2",
        prompt="a lighthouse at dusk",
        input={},
        price_usd=0.04,
        state=state,
        created_at=NOW - 125,
        updated_at=NOW - 60,
    )
    return dataclasses.replace(base, **values)


def delivered(id: int = 1, **values: Any) -> Job:
    defaults: dict[str, Any] = {
        "finished_at": NOW - 3 * 3600,
        "result_urls": ["https://cdn.example/1.png"],
        "result_expires_at": NOW + 3600,
        "result_message_ids": [99],
        "state": S.DELIVERED,
    }
    return job(id, **{**defaults, **values})


def test_every_state_has_a_label() -> None:
    assert set(STATE_LABELS) == set(JobState)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0 s"),
        (42, "42 s"),
        (89, "89 s"),
        (150, "2 min"),
        (3 * 3600, "3 h"),
        (5 * 86400, "5 d"),
    ],
)
def test_durations_are_short(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_prompts_are_one_line_and_cut() -> None:
    assert short_prompt("a  cat\non a\tmat") == "a cat on a mat"
    cut = short_prompt("x" * 100, limit=20)
    assert len(cut) == 20 and cut.endswith("…")


def test_an_active_line_shows_state_model_elapsed_and_prompt() -> None:
    line = job_line(job(12, S.RUNNING), now=NOW, locale=None)
    assert line == "**#12** · running · `nano-banana-2` · 2 min · a lighthouse at dusk"


def test_a_finished_line_says_how_long_ago_and_links_the_result() -> None:
    line = job_line(delivered(9), now=NOW, locale=None)
    assert line.startswith("#9 · delivered · `nano-banana-2` · 3 h ago · a lighthouse")
    assert "(https://discord.com/channels/10/40/99)" in line


def test_prompts_cannot_break_the_markdown() -> None:
    line = job_line(job(prompt="**bold** `code` [x](y)"), now=NOW, locale=None)
    assert "\\*\\*bold\\*\\*" in line and "\\`code\\`" in line and "\\[x\\]" in line


def test_choice_labels_fit_discord_and_name_the_owner_for_moderators() -> None:
    label = choice_label(job(7, prompt="p" * 300), locale=None)
    assert label.startswith("#7 · running · nano-banana-2 · ppp")
    assert len(label) <= CHOICE_LIMIT
    assert "· ann ·" in choice_label(job(7), locale=None, owner_name="ann")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("", True), ("12", True), ("#12", True), ("1", True), ("2", False), ("light", True),
     ("dusk light", True), ("banana", True), ("owl", False)],
)  # fmt: skip
def test_autocomplete_matches_ids_prompts_and_models(typed: str, expected: bool) -> None:
    assert matches(job(12), typed) is expected


def test_only_owners_and_moderators_of_the_same_guild_manage_a_job() -> None:
    own = job()
    assert can_manage(own, user_id=OWNER, guild_id=GUILD, moderator=False)
    assert not can_manage(own, user_id=OTHER, guild_id=GUILD, moderator=False)
    assert can_manage(own, user_id=OTHER, guild_id=GUILD, moderator=True)
    assert not can_manage(own, user_id=OTHER, guild_id=GUILD + 1, moderator=True)
    assert not can_manage(own, user_id=OWNER, guild_id=GUILD + 1, moderator=False)


def test_a_moderator_is_told_whose_job_was_cancelled() -> None:
    message = "Cancelled. You were not charged."
    mine = cancel_text(message, job(), cancelled=True, caller_id=OWNER, locale=None)
    assert mine == message
    theirs = cancel_text(message, job(3), cancelled=True, caller_id=OTHER, locale=None)
    assert theirs == f"Cancelled job #3 of <@{OWNER}>. They were not charged."
    refused = cancel_text("Job 3 has already delivered.", job(3), cancelled=False,
                          caller_id=OTHER, locale=None)  # fmt: skip
    assert refused == "Job 3 has already delivered."


def test_cancellable_states_are_active_ones() -> None:
    assert not CANCELLABLE & TERMINAL


@pytest.mark.parametrize(
    ("state", "values", "text"),
    [
        (S.RUNNING, {}, "has no result yet (running)"),
        (S.DELIVERING, {"result_urls": ["u"], "result_expires_at": NOW + 1}, "being posted"),
        (S.FAILED, {}, "ended without a result (failed)"),
        (S.DELIVERED, {"result_urls": ["u"], "result_expires_at": NOW}, "expired on <t:"),
        (S.EXPIRED, {"result_urls": ["u"], "result_expires_at": NOW - 5}, "expired on <t:"),
    ],
)
def test_show_refuses_what_cannot_be_posted_again(
    state: JobState, values: dict[str, Any], text: str
) -> None:
    refusal = show_refusal(job(4, state, **values), now=NOW, locale=None)
    assert refusal is not None and text in refusal


def test_show_accepts_results_whose_links_still_work() -> None:
    assert show_refusal(delivered(), now=NOW, locale=None) is None
    undeliverable = delivered(state=S.UNDELIVERABLE, result_message_ids=[])
    assert show_refusal(undeliverable, now=NOW, locale=None) is None
    # Max API's links expired: the bot's own posted copy is shown instead.
    assert show_refusal(delivered(result_expires_at=NOW - 1), now=NOW, locale=None) is None
    expired = delivered(result_expires_at=NOW - 1, result_message_ids=[])  # no copy either
    refusal = show_refusal(expired, now=NOW, locale=None)
    assert refusal is not None and f"<t:{int(NOW - 1)}:f>" in refusal


def test_a_history_page_lists_its_jobs_and_says_which_page() -> None:
    jobs = [job(12, S.RUNNING), delivered(11), job(10, S.CANCELLED, finished_at=NOW - 5)]
    shown = history_text(jobs, total=23, page=2, search="", now=NOW, locale=None)
    assert shown.title == "Your jobs" and shown.footer == "Page 2 of 3 · 23 jobs"
    assert [line.split(" ")[0].strip("*") for line in shown.description.splitlines()] == [
        "#12",
        "#11",
        "#10",
    ]
    assert shown.cancel_ids == (12,)


def test_an_empty_history_says_how_to_start_or_that_nothing_matched() -> None:
    empty = history_text([], total=0, page=1, search="", now=NOW, locale=None)
    assert "/imagine" in empty.description and empty.footer == "Page 1 of 1 · 0 jobs"
    missed = history_text([], total=0, page=1, search="  a_cat ", now=NOW, locale=None)
    assert missed.description == "None of your jobs here has “a_cat” in its prompt."
    assert missed.title == "Your jobs matching “a\\_cat”"  # markdown-escaped in the title
    assert history_text([], total=0, page=1, search="x", now=NOW, locale="zh-CN").footer.startswith(
        "第 1 页"
    )


@pytest.mark.parametrize(("total", "pages"), [(0, 1), (1, 1), (10, 1), (11, 2), (23, 3)])
def test_page_count(total: int, pages: int) -> None:
    assert page_count(total) == pages


def test_show_labels_lead_with_id_and_prompt_and_fit_discord() -> None:
    assert show_label(job(12, prompt="a  lighthouse\nat dusk")) == "#12 · a lighthouse at dusk"
    long = show_label(job(12, prompt="p" * 300), owner_name="ann")
    assert len(long) == CHOICE_LIMIT and long.endswith("… · ann")
