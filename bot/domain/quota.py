"""Limits: which apply to a member, and whether one more job fits. Pure logic.

Limits come in layers: a built-in default for a new guild, the guild's own default,
per-role values (a member gets the most generous of their roles), and per-user
overrides, which win. Members holding an exempt role skip the per-member limits;
the guild's daily and monthly budgets still hold for everyone, because they protect
the wallet. A job reserves its counts and estimated cost when it is accepted (inside
the store's job-creating transaction, so simultaneous commands cannot both pass the
last slot); the reservation is settled when Max API produces a result and refunded
when the job ends without one (see ``job_states.refund_applies``).

Days roll over at a configurable UTC hour (``period_keys``). Above every server, the
operator's cap (``OperatorCap``) bounds what all servers together spend in a UTC day
and month; no server setting can lift it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.errors import LimitReached

#: The per-member dimensions moderators can set (names are the /limits option names).
DIMENSIONS = (
    "images_per_day",
    "videos_per_day",
    "jobs_at_once",
    "spend_per_day_usd",
    "cooldown_seconds",
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-member limits; ``None`` means "not set at this layer"."""

    images_per_day: int | None = None
    videos_per_day: int | None = None
    jobs_at_once: int | None = None
    spend_per_day_usd: float | None = None
    cooldown_seconds: int | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Limits:
        return cls(**{k: values.get(k) for k in DIMENSIONS})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def over(self, base: Limits) -> Limits:
        """These values where set, ``base`` elsewhere."""
        return Limits(
            **{
                k: (getattr(self, k) if getattr(self, k) is not None else getattr(base, k))
                for k in DIMENSIONS
            }
        )


#: What a new guild gets before any moderator sets anything (shown by /limits show).
NEW_GUILD_LIMITS = Limits(
    images_per_day=25,
    videos_per_day=5,
    jobs_at_once=3,
    spend_per_day_usd=5.0,  # above the dearest single job (Veo 3 Quality, 8 s: ~$3.20)
    cooldown_seconds=0,  # jobs_at_once already paces a member
)


@dataclass(frozen=True, slots=True)
class GuildPolicy:
    """Guild-wide money settings."""

    daily_budget_usd: float | None = 20.0
    monthly_budget_usd: float | None = 200.0
    rollover_hour_utc: int = 0
    exempt_role_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class OperatorCap:
    """What all servers together may spend (``OPERATOR_BUDGET_USD_PER_DAY`` / ``…_MONTH``),
    counted by UTC day and month; ``None``: no cap."""

    daily_usd: float | None = None
    monthly_usd: float | None = None

    @property
    def active(self) -> bool:
        return self.daily_usd is not None or self.monthly_usd is not None

    def refusal(self, daily_usd: float | None, monthly_usd: float | None) -> str | None:
        """Why a server budget of these amounts is refused (it may only be lower than the
        cap; ``None`` amount means "no server budget"), or ``None`` when it is fine."""
        for amount, cap, template in (
            (daily_usd, self.daily_usd, OVER_DAILY_CAP),
            (monthly_usd, self.monthly_usd, OVER_MONTHLY_CAP),
        ):
            if amount is not None and cap is not None and amount > cap + 1e-9:
                return template
        return None


OVER_DAILY_CAP = (
    "The bot's operator caps what all servers together spend at {cap} a day, so a "
    "server's daily budget can only be lower."
)
OVER_MONTHLY_CAP = (
    "The bot's operator caps what all servers together spend at {cap} a month, so a "
    "server's monthly budget can only be lower."
)


def operator_periods(now: float) -> tuple[float, float]:
    """When the operator's current UTC day and month began (epoch seconds)."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp(), day.replace(day=1).timestamp()


@dataclass(frozen=True, slots=True)
class Usage:
    """What counts against the limits right now (refunded jobs excluded)."""

    images_today: int = 0
    videos_today: int = 0
    spend_today_usd: float = 0.0
    active_jobs: int = 0
    last_job_at: float | None = None
    guild_spend_today_usd: float = 0.0
    guild_spend_month_usd: float = 0.0
    operator_spend_today_usd: float = 0.0
    operator_spend_month_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class Charge:
    """What one job reserves."""

    images: int
    videos: int
    usd: float


@dataclass(frozen=True, slots=True)
class LimitLayers:
    """The rows that apply to one member, as read from the store."""

    guild: Limits = field(default_factory=Limits)
    roles: tuple[Limits, ...] = ()
    user: Limits = field(default_factory=Limits)


def most_generous(values: Iterable[Limits]) -> Limits:
    """Per dimension, the most generous value set by any of the member's roles."""
    best: dict[str, Any] = {}
    for limits in values:
        for name in DIMENSIONS:
            value = getattr(limits, name)
            if value is None:
                continue
            current = best.get(name)
            if current is None:
                best[name] = value
            elif name == "cooldown_seconds":
                best[name] = min(current, value)  # a shorter cooldown is more generous
            else:
                best[name] = max(current, value)
    return Limits(**best)


def effective_limits(layers: LimitLayers) -> Limits:
    """User override, else the most generous role, else the guild default, else built-in."""
    return layers.user.over(most_generous(layers.roles).over(layers.guild.over(NEW_GUILD_LIMITS)))


def period_keys(now: float, rollover_hour_utc: int = 0) -> tuple[str, str]:
    """The (day, month) a moment counts towards, for days starting at the given UTC hour."""
    shifted = datetime.fromtimestamp(now, UTC) - timedelta(hours=rollover_hour_utc)
    return shifted.strftime("%Y-%m-%d"), shifted.strftime("%Y-%m")


def next_reset(now: float, rollover_hour_utc: int = 0) -> float:
    """When the current day's counters start again (epoch seconds)."""
    moment = datetime.fromtimestamp(now, UTC)
    reset = moment.replace(hour=rollover_hour_utc, minute=0, second=0, microsecond=0)
    if reset <= moment:
        reset += timedelta(days=1)
    return reset.timestamp()


def _reset_text(now: float, policy: GuildPolicy) -> str:
    return f"<t:{int(next_reset(now, policy.rollover_hour_utc))}:R>"


def check(
    limits: Limits,
    usage: Usage,
    charge: Charge,
    policy: GuildPolicy,
    now: float,
    *,
    exempt: bool = False,
    operator: OperatorCap = OperatorCap(),
) -> None:
    """Raise :class:`LimitReached` (saying when it resets) if the job does not fit."""
    if operator.monthly_usd is not None and (
        usage.operator_spend_month_usd + charge.usd > operator.monthly_usd + 1e-9
    ):
        raise LimitReached(
            "The bot's spending cap for this month is used up, for every server it serves. "
            "Its operator can raise it."
        )
    if operator.daily_usd is not None and (
        usage.operator_spend_today_usd + charge.usd > operator.daily_usd + 1e-9
    ):
        raise LimitReached(
            "The bot's spending cap for today is used up, for every server it serves. "
            "It resets {resets}.",
            resets=f"<t:{int(next_reset(now, 0))}:R>",
        )
    resets = _reset_text(now, policy)
    if policy.monthly_budget_usd is not None and (
        usage.guild_spend_month_usd + charge.usd > policy.monthly_budget_usd + 1e-9
    ):
        raise LimitReached(
            "The server's monthly budget ({budget}) is used up. "
            "A moderator can raise it with /settings.",
            budget=f"${policy.monthly_budget_usd:.2f}",
        )
    if policy.daily_budget_usd is not None and (
        usage.guild_spend_today_usd + charge.usd > policy.daily_budget_usd + 1e-9
    ):
        raise LimitReached(
            "The server's budget for today ({budget}) is used up. It resets {resets}.",
            budget=f"${policy.daily_budget_usd:.2f}",
            resets=resets,
        )
    if exempt:
        return
    if limits.jobs_at_once is not None and usage.active_jobs >= limits.jobs_at_once:
        raise LimitReached(
            "You already have {active} job(s) running (the limit is {limit}). "
            "Wait for one to finish, or cancel one with /cancel.",
            active=usage.active_jobs,
            limit=limits.jobs_at_once,
        )
    if (
        limits.cooldown_seconds
        and usage.last_job_at is not None
        and now - usage.last_job_at < limits.cooldown_seconds
    ):
        wait = math.ceil(limits.cooldown_seconds - (now - usage.last_job_at))
        raise LimitReached("Slow down: you can start another job in {wait} s.", wait=wait)
    if (
        charge.images
        and limits.images_per_day is not None
        and usage.images_today + charge.images > limits.images_per_day
    ):
        left = max(0, limits.images_per_day - usage.images_today)
        raise LimitReached(
            "This needs {needed} image(s) and you have {left} of {limit} left today. "
            "It resets {resets}.",
            needed=charge.images,
            left=left,
            limit=limits.images_per_day,
            resets=resets,
        )
    if (
        charge.videos
        and limits.videos_per_day is not None
        and usage.videos_today + charge.videos > limits.videos_per_day
    ):
        raise LimitReached(
            "You have used all {limit} video(s) for today. It resets {resets}.",
            limit=limits.videos_per_day,
            resets=resets,
        )
    if (
        limits.spend_per_day_usd is not None
        and usage.spend_today_usd + charge.usd > limits.spend_per_day_usd + 1e-9
    ):
        money_left = max(0.0, limits.spend_per_day_usd - usage.spend_today_usd)
        raise LimitReached(
            "This costs about {cost} and you have {left} of {limit} left today. "
            "It resets {resets}.",
            cost=f"${charge.usd:.3f}",
            left=f"${money_left:.3f}",
            limit=f"${limits.spend_per_day_usd:.2f}",
            resets=resets,
        )


def remaining(limits: Limits, usage: Usage) -> dict[str, Any]:
    """What is left today per dimension (``None``: no limit), for /usage."""
    return {
        "images_per_day": None
        if limits.images_per_day is None
        else max(0, limits.images_per_day - usage.images_today),
        "videos_per_day": None
        if limits.videos_per_day is None
        else max(0, limits.videos_per_day - usage.videos_today),
        "spend_per_day_usd": None
        if limits.spend_per_day_usd is None
        else max(0.0, round(limits.spend_per_day_usd - usage.spend_today_usd, 6)),
        "jobs_at_once": None
        if limits.jobs_at_once is None
        else max(0, limits.jobs_at_once - usage.active_jobs),
    }


def with_override(base: Limits, **values: Any) -> Limits:
    """``base`` with some dimensions replaced (for /limits set)."""
    unknown = set(values) - set(DIMENSIONS)
    if unknown:
        raise KeyError(f"unknown limit {sorted(unknown)}")
    return replace(base, **values)
