"""The state machine's money rules, as data."""

from __future__ import annotations

import pytest

from bot.domain.job_states import REFUNDED, TERMINAL, TRANSITIONS, UPSTREAM, JobState, can_move

S = JobState


def test_terminal_states_never_move() -> None:
    for state in TERMINAL:
        assert state.is_terminal
        assert not any(can_move(state, target) for target in JobState)


def test_every_active_state_can_end() -> None:
    for state in JobState:
        if state.is_active:
            assert TRANSITIONS[state] & TERMINAL, state


def test_a_job_that_may_have_reached_max_api_is_never_resubmitted() -> None:
    # Only ACCEPTED may enter SUBMITTING: nothing after a submit can go back to it.
    for state in JobState:
        assert can_move(state, S.SUBMITTING) == (state == S.ACCEPTED)


def test_lost_only_from_submitting() -> None:
    assert {s for s in JobState if can_move(s, S.LOST)} == {S.SUBMITTING}


def test_refunds_cover_every_ending_without_a_charged_result() -> None:
    assert {S.REJECTED, S.FAILED, S.CANCELLED, S.LOST} == REFUNDED
    assert not REFUNDED & {S.DELIVERED, S.UNDELIVERABLE}


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("PENDING", S.QUEUED),
        ("PROCESSING", S.RUNNING),
        ("SUBMITTED", S.RUNNING),
        ("SUCCESS", S.SUCCEEDED),
        ("FAILURE", S.FAILED),
        ("TIMEOUT", S.FAILED),
        ("CANCELLED", S.CANCELLED),
    ],
)
def test_upstream_status_mapping(status: str, state: JobState) -> None:
    from bot.domain.job_states import state_for_upstream

    assert state_for_upstream(status) == state


def test_upstream_states_are_polled() -> None:
    assert {S.QUEUED, S.RUNNING} == UPSTREAM


@pytest.mark.parametrize(
    ("mode", "refunded"),
    [
        ("pending", {S.ACCEPTED, S.QUEUED}),
        ("always", {S.ACCEPTED, S.SUBMITTING, S.QUEUED, S.RUNNING}),
        ("never", {S.ACCEPTED}),
    ],
)
def test_cancel_refunds_by_mode(mode: str, refunded: set[JobState]) -> None:
    """A job that never reached Max API is refunded in every mode; one Max API had
    started (running) only when the operator chose ``always``."""
    from bot.domain.job_states import cancel_refunds

    for state in (S.ACCEPTED, S.SUBMITTING, S.QUEUED, S.RUNNING):
        assert cancel_refunds(mode, state) == (state in refunded), state


def test_a_charged_cancel_is_not_told_as_refunded() -> None:
    from bot.domain.job_states import CANCEL_CHARGED, ending_refunded

    assert ending_refunded(S.CANCELLED, None)
    assert not ending_refunded(S.CANCELLED, CANCEL_CHARGED)
    assert ending_refunded(S.FAILED, "TIMEOUT")
    assert not ending_refunded(S.EXPIRED, None)
