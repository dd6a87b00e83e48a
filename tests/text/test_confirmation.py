"""What pickers say once their job is launched: started, or held for the cost's Confirm."""

from __future__ import annotations

from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.text.confirmation import picked_text


def job(**values: object) -> Job:
    return Job(
        id=7,
        guild_id=1,
        channel_id=2,
        user_id=3,
        media="image",
        model="nano-banana",
        prompt="a fox",
        input={},
        price_usd=0.04,
        state=JobState.ACCEPTED,
        created_at=1.0,
        updated_at=1.0,
        **values,  # type: ignore[arg-type]
    )


def test_a_held_job_waits_for_confirm_and_a_started_one_says_so() -> None:
    assert picked_text(job(), None) == "Started job #7: its progress is below."
    assert picked_text(job(confirm_by=100.0), None) == "Job #7 waits for your Confirm below."
    assert picked_text(job(confirm_by=100.0), "zh-CN") != "Job #7 waits for your Confirm below."
