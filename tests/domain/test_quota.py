"""Quota arithmetic, table-driven: layers, the checks, periods and resets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.errors import LimitReached, UserFacingError
from bot.domain.quota import (
    NEW_GUILD_LIMITS,
    Charge,
    GuildPolicy,
    LimitLayers,
    Limits,
    OperatorCap,
    Usage,
    check,
    effective_limits,
    most_generous,
    next_reset,
    operator_periods,
    period_keys,
    remaining,
)

NOW = datetime(2026, 11, 23, 18, 30, tzinfo=UTC).timestamp()
NO_BUDGET = GuildPolicy(daily_budget_usd=None, monthly_budget_usd=None)
IMAGE = Charge(images=1, videos=0, usd=0.04)
VIDEO = Charge(images=0, videos=1, usd=3.2)


def test_new_guild_defaults_admit_the_dearest_single_job() -> None:
    check(NEW_GUILD_LIMITS, Usage(), VIDEO, GuildPolicy(), NOW)


def test_layers_user_over_roles_over_guild_over_builtin() -> None:
    layers = LimitLayers(
        guild=Limits(images_per_day=10, cooldown_seconds=30),
        roles=(Limits(images_per_day=50), Limits(images_per_day=100, cooldown_seconds=5)),
        user=Limits(images_per_day=3),
    )
    limits = effective_limits(layers)
    assert limits.images_per_day == 3  # the user override wins
    assert limits.cooldown_seconds == 5  # the most generous role (shortest cooldown)
    assert limits.videos_per_day == NEW_GUILD_LIMITS.videos_per_day  # built-in
    assert effective_limits(LimitLayers(guild=Limits(images_per_day=10))).images_per_day == 10


def test_most_generous_ignores_unset_dimensions_and_keeps_zero() -> None:
    merged = most_generous([Limits(videos_per_day=0), Limits(images_per_day=7)])
    assert merged == Limits(videos_per_day=0, images_per_day=7)


@pytest.mark.parametrize(
    ("limits", "usage", "charge", "fits", "says"),
    [
        (Limits(images_per_day=5), Usage(images_today=4), IMAGE, True, ""),
        (Limits(images_per_day=5), Usage(images_today=5), IMAGE, False, "0 of 5 left"),
        (Limits(images_per_day=5), Usage(images_today=2), Charge(4, 0, 0.1), False, "needs 4"),
        (Limits(images_per_day=0), Usage(), IMAGE, False, "0 of 0"),
        (Limits(videos_per_day=1), Usage(videos_today=1), VIDEO, False, "all 1 video"),
        (Limits(videos_per_day=1), Usage(videos_today=1), IMAGE, True, ""),
        (Limits(jobs_at_once=2), Usage(active_jobs=2), IMAGE, False, "/cancel"),
        (Limits(jobs_at_once=2), Usage(active_jobs=1), IMAGE, True, ""),
        (Limits(spend_per_day_usd=1.0), Usage(spend_today_usd=0.97), IMAGE, False, "$0.030"),
        (Limits(spend_per_day_usd=1.0), Usage(spend_today_usd=0.96), IMAGE, True, ""),
        (Limits(cooldown_seconds=30), Usage(last_job_at=NOW - 10), IMAGE, False, "20 s"),
        (Limits(cooldown_seconds=30), Usage(last_job_at=NOW - 31), IMAGE, True, ""),
    ],
)
def test_member_limits(limits: Limits, usage: Usage, charge: Charge, fits: bool, says: str) -> None:
    if fits:
        check(limits, usage, charge, NO_BUDGET, NOW)
        return
    with pytest.raises(LimitReached) as info:
        check(limits, usage, charge, NO_BUDGET, NOW)
    assert says in info.value.message


def test_day_limits_say_when_they_reset() -> None:
    with pytest.raises(LimitReached) as info:
        check(Limits(images_per_day=1), Usage(images_today=1), IMAGE, NO_BUDGET, NOW)
    assert f"<t:{int(next_reset(NOW))}:R>" in info.value.message


@pytest.mark.parametrize(
    ("policy", "usage", "says"),
    [
        (GuildPolicy(daily_budget_usd=10), Usage(guild_spend_today_usd=9.99), "budget for today"),
        (GuildPolicy(monthly_budget_usd=50), Usage(guild_spend_month_usd=49.99), "monthly"),
    ],
)
def test_guild_budgets_hold_even_for_exempt_members(
    policy: GuildPolicy, usage: Usage, says: str
) -> None:
    with pytest.raises(LimitReached, match=says):
        check(Limits(), usage, IMAGE, policy, NOW, exempt=True)


@pytest.mark.parametrize(
    ("cap", "usage", "says"),
    [
        (OperatorCap(daily_usd=10), Usage(operator_spend_today_usd=9.99), "cap for today"),
        (OperatorCap(monthly_usd=50), Usage(operator_spend_month_usd=49.99), "this month"),
    ],
)
def test_the_operators_cap_holds_whatever_the_server_allows(
    cap: OperatorCap, usage: Usage, says: str
) -> None:
    with pytest.raises(LimitReached, match=says):
        check(Limits(), usage, IMAGE, NO_BUDGET, NOW, exempt=True, operator=cap)
    check(Limits(), Usage(), IMAGE, NO_BUDGET, NOW, exempt=True, operator=cap)


def test_a_server_budget_may_only_be_lower_than_the_operators_cap() -> None:
    cap = OperatorCap(daily_usd=10, monthly_usd=100)
    cap.check_budget(10, 100)
    cap.check_budget(None, None)  # "no server budget": the cap still holds
    with pytest.raises(UserFacingError, match=r"\$10\.00 a day"):
        cap.check_budget(10.01, None)
    with pytest.raises(UserFacingError, match=r"\$100\.00 a month"):
        cap.check_budget(None, 100.5)
    OperatorCap().check_budget(10**6, 10**6)


def test_operator_periods_are_utc_days_and_months() -> None:
    day, month = operator_periods(NOW)
    assert day == datetime(2026, 11, 23, tzinfo=UTC).timestamp()
    assert month == datetime(2026, 11, 1, tzinfo=UTC).timestamp()


def test_exempt_members_skip_member_limits() -> None:
    check(
        Limits(images_per_day=0, jobs_at_once=0),
        Usage(active_jobs=5),
        IMAGE,
        NO_BUDGET,
        NOW,
        exempt=True,
    )


@pytest.mark.parametrize(
    ("moment", "hour", "day", "month"),
    [
        ("2026-11-23T18:30", 0, "2026-11-23", "2026-11"),
        ("2026-11-23T03:00", 4, "2026-11-22", "2026-11"),
        ("2026-12-01T03:59", 4, "2026-11-30", "2026-11"),
        ("2026-12-01T04:00", 4, "2026-12-01", "2026-12"),
        ("2027-01-01T00:00", 0, "2027-01-01", "2027-01"),
    ],
)
def test_day_rollover_at_a_utc_hour(moment: str, hour: int, day: str, month: str) -> None:
    when = datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp()
    assert period_keys(when, hour) == (day, month)


def test_next_reset() -> None:
    assert next_reset(NOW, 0) == datetime(2026, 11, 24, tzinfo=UTC).timestamp()
    assert next_reset(NOW, 20) == datetime(2026, 11, 23, 20, tzinfo=UTC).timestamp()


def test_remaining() -> None:
    left = remaining(
        Limits(images_per_day=5, spend_per_day_usd=1.0, jobs_at_once=2),
        Usage(images_today=7, spend_today_usd=0.25, active_jobs=1),
    )
    assert left == {
        "images_per_day": 0,
        "videos_per_day": None,
        "spend_per_day_usd": 0.75,
        "jobs_at_once": 1,
    }
