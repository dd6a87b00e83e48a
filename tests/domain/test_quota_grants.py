"""A moderator's day grant in the quota rules: it raises the member's daily limits for its
day only, never the server's budgets, and never makes an unlimited dimension limited."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.errors import LimitReached
from bot.domain.quota import (
    Charge,
    Grant,
    GuildPolicy,
    Limits,
    Usage,
    check,
    remaining,
    with_grant,
)

NOW = datetime(2026, 12, 5, 18, 30, tzinfo=UTC).timestamp()
NO_BUDGET = GuildPolicy(daily_budget_usd=None, monthly_budget_usd=None)
IMAGE = Charge(images=1, videos=0, usd=0.04)
VIDEO = Charge(images=0, videos=1, usd=1.0)
LIMITS = Limits(images_per_day=5, videos_per_day=0, spend_per_day_usd=2.0)


def test_a_grant_raises_each_daily_limit_it_names() -> None:
    raised = with_grant(LIMITS, Grant(images=2, videos=1, usd=0.5))
    assert raised == Limits(images_per_day=7, videos_per_day=1, spend_per_day_usd=2.5)
    assert with_grant(LIMITS, Grant()) == LIMITS


def test_no_limit_stays_no_limit_and_other_dimensions_are_untouched() -> None:
    limits = Limits(images_per_day=None, jobs_at_once=2, cooldown_seconds=30)
    raised = with_grant(limits, Grant(images=3, videos=1, usd=1.0))
    assert raised.images_per_day is None and raised.spend_per_day_usd is None
    assert (raised.jobs_at_once, raised.cooldown_seconds) == (2, 30)


def test_an_empty_grant_is_false() -> None:
    assert not Grant() and Grant(usd=0.01) and Grant(videos=1)


@pytest.mark.parametrize(
    ("usage", "charge", "fits"),
    [
        (Usage(images_today=5), IMAGE, False),
        (Usage(images_today=5, grant=Grant(images=1)), IMAGE, True),
        (Usage(images_today=6, grant=Grant(images=1)), IMAGE, False),
        (Usage(), VIDEO, False),  # videos_per_day 0: none without a grant
        (Usage(grant=Grant(videos=1)), VIDEO, True),
        (Usage(spend_today_usd=1.98), IMAGE, False),
        (Usage(spend_today_usd=1.98, grant=Grant(usd=0.02)), IMAGE, True),
        (Usage(images_today=5, grant=Grant(usd=5.0)), IMAGE, False),  # usd does not add images
    ],
)
def test_the_check_counts_the_grant(usage: Usage, charge: Charge, fits: bool) -> None:
    if fits:
        check(LIMITS, usage, charge, NO_BUDGET, NOW)
    else:
        with pytest.raises(LimitReached):
            check(LIMITS, usage, charge, NO_BUDGET, NOW)


def test_a_refusal_counts_what_the_grant_leaves() -> None:
    usage = Usage(images_today=6, grant=Grant(images=2))
    with pytest.raises(LimitReached, match=r"needs 3 image.*1 of 7 left"):
        check(LIMITS, usage, Charge(3, 0, 0.12), NO_BUDGET, NOW)


def test_a_grant_never_raises_the_servers_budget() -> None:
    policy = GuildPolicy(daily_budget_usd=1.0, monthly_budget_usd=None)
    usage = Usage(guild_spend_today_usd=0.99, grant=Grant(usd=10.0))
    with pytest.raises(LimitReached, match="budget for today"):
        check(LIMITS, usage, IMAGE, policy, NOW)


def test_what_is_left_with_the_grant_applied() -> None:
    usage = Usage(images_today=5, grant=Grant(images=2))
    assert remaining(with_grant(LIMITS, usage.grant), usage)["images_per_day"] == 2
