"""What a member reads when a job ends without a result."""

from __future__ import annotations

import dataclasses

import pytest

from bot.discord_io.announcer import ending_text
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.text.progress_card import state_text

S = JobState


def job(state: JobState, message: str | None = "Max API timed out.", prompt: str = "a fox") -> Job:
    return Job(
        id=7,
        guild_id=1,
        channel_id=2,
        user_id=42,
        media="image",
        model="nano-banana",
        prompt=prompt,
        input={"prompt": prompt},
        price_usd=0.04,
        state=state,
        created_at=0,
        updated_at=0,
        failure_message=message,
    )


@pytest.mark.parametrize("state", [S.REJECTED, S.FAILED, S.CANCELLED, S.LOST])
def test_refunded_endings_say_not_charged(state: JobState) -> None:
    text = ending_text(job(state))
    assert text is not None
    assert text.startswith("<@42> your image job #7 (a fox)")
    assert "Max API timed out." in text
    assert text.endswith("You were not charged.")


def test_not_charged_is_said_once() -> None:
    text = ending_text(job(S.LOST, "Nobody knows. You were not charged; start it again."))
    assert text is not None and text.count("not charged") == 1


@pytest.mark.parametrize("state", [S.EXPIRED, S.UNDELIVERABLE])
def test_charged_endings_do_not_promise_a_refund(state: JobState) -> None:
    text = ending_text(job(state, "Links expired."))
    assert text is not None and "not charged" not in text


@pytest.mark.parametrize(
    "state", [S.ACCEPTED, S.SUBMITTING, S.QUEUED, S.RUNNING, S.SUCCEEDED, S.DELIVERED]
)
def test_other_states_say_nothing(state: JobState) -> None:
    assert ending_text(job(state)) is None


def test_long_prompts_are_shortened_and_missing_reason_is_explained() -> None:
    text = ending_text(job(S.FAILED, None, prompt="x" * 500))
    assert text is not None
    assert "x" * 79 + "…" in text and "x" * 81 not in text
    assert "No reason was given." in text


def test_the_prompt_is_shown_as_plain_text() -> None:
    text = ending_text(job(S.FAILED, prompt="[win](https://evil.example) @everyone <@&5> *x*"))
    assert text is not None
    assert r"\[win\](https://evil.example)" in text and "[win](" not in text
    assert "@everyone" not in text and "@\u200beveryone" in text
    assert "<@&5>" not in text and r"\*x\*" in text


def test_a_charged_cancel_does_not_say_not_charged() -> None:
    from bot.domain.job_states import CANCEL_CHARGED
    from bot.services.job_messages import CHARGED_CANCEL_REASONS

    charged = dataclasses.replace(
        job(S.CANCELLED, CHARGED_CANCEL_REASONS["pending"]), failure_reason=CANCEL_CHARGED
    )
    text = ending_text(charged)
    assert text is not None and "not charged" not in text
    assert text.endswith("so you were charged for it.")
    card = state_text(charged, "zh-CN")  # the progress card says the same
    assert card == "已取消。Max API 已经开始处理它，所以你仍被扣费。"


def test_the_notice_may_mention_only_its_owner() -> None:
    from bot.discord_io.announcer import owner_only

    assert owner_only(job(S.FAILED)).to_dict() == {"parse": [], "users": [42]}


def test_a_reason_with_fields_is_told_in_the_owners_language() -> None:
    from bot.services.job_messages import REJECTED_MESSAGES

    busy = dataclasses.replace(
        job(S.REJECTED, REJECTED_MESSAGES["RATE_LIMITED"]), failure_fields={"seconds": 12}
    )
    text = ending_text(busy)
    assert text is not None
    assert text.endswith("Max API is busy. Try again in 12 s. You were not charged.")
    chinese = ending_text(dataclasses.replace(busy, locale="zh-CN"))
    assert chinese is not None and chinese.endswith(
        "Max API 正忙。请在 12 秒后重试。你没有被扣费。"
    )
