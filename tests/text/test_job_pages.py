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
    job_line,
    matches,
    overview,
    short_prompt,
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


def test_the_empty_overview_says_how_to_start() -> None:
    shown = overview([], [], now=NOW, locale=None)
    assert shown.empty and shown.cancel_ids == ()
    assert "/imagine" in shown.description


def test_active_jobs_come_first_and_only_stoppable_ones_get_buttons() -> None:
    active = [job(5, S.RUNNING), job(4, S.SUCCEEDED), job(3, S.ACCEPTED)]
    recent = [delivered(2), job(1, S.FAILED, finished_at=NOW - 10)]
    shown = overview(active, recent, now=NOW, locale=None)
    text = shown.description
    assert text.index("**Active**") < text.index("#5") < text.index("**Recent**") < text.index("#2")
    assert shown.cancel_ids == (5, 3)  # a job that succeeded upstream cannot be cancelled
    assert "/cancel" not in text


def test_more_active_jobs_than_buttons_points_to_cancel() -> None:
    active = [job(i, S.QUEUED) for i in range(30, 0, -1)]
    shown = overview(active, [], now=NOW, locale=None, max_buttons=25)
    assert len(shown.cancel_ids) == 25
    assert shown.cancel_ids[0] == 30
    assert "use /cancel" in shown.description


def test_a_long_overview_fits_and_says_what_it_left_out() -> None:
    long = "word " * 200
    active = [job(i, S.RUNNING, prompt=long, model="m" * 60) for i in range(60, 0, -1)]
    shown = overview(active, [delivered(100)], now=NOW, locale=None, limit=1500)
    assert len(shown.description) <= 1500
    assert "more not shown" in shown.description
    assert "**Recent**" not in shown.description  # no heading without its lines


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
    expired = delivered(result_expires_at=NOW - 1)
    refusal = show_refusal(expired, now=NOW, locale=None)
    assert refusal is not None and f"<t:{int(NOW - 1)}:f>" in refusal
