"""Limits: which apply to a member, and whether one more job fits. Pure logic. Member limits
come in layers (built-in, server, roles, member); the server's budgets and the operator's
cap over every server hold for everyone, exempt roles included."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.errors import LimitReached, UserFacingError

#: The per-member dimensions moderators can set (names are the /limits option names).
DIMENSIONS = (
    "images_per_day",
    "videos_per_day",
    "jobs_at_once",
    "spend_per_day_usd",
    "cooldown_seconds",
)


def _over(total: float, cap: float | None) -> bool:
    """Whether ``total`` passes ``cap`` (``None``: no cap), allowing for float rounding."""
    return cap is not None and total > cap + 1e-9


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
        theirs = base.as_dict()
        return Limits(**{k: theirs[k] if v is None else v for k, v in self.as_dict().items()})


#: What a new guild gets before any moderator sets anything (shown by /limits show).
NEW_GUILD_LIMITS = Limits(
    images_per_day=25,
    videos_per_day=5,
    jobs_at_once=3,
    spend_per_day_usd=5.0,  # enough for the dearest single job
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

    def check_budget(self, daily_usd: float | None, monthly_usd: float | None) -> None:
        """Refuse a server budget above the cap (``None``: the server sets no budget)."""
        if _over(daily_usd or 0.0, self.daily_usd):
            raise UserFacingError(
                "The bot's operator caps what all servers together spend at {cap} a day, so a "
                "server's daily budget can only be lower.",
                cap=f"${self.daily_usd:.2f}",
            )
        if _over(monthly_usd or 0.0, self.monthly_usd):
            raise UserFacingError(
                "The bot's operator caps what all servers together spend at {cap} a month, so "
                "a server's monthly budget can only be lower.",
                cap=f"${self.monthly_usd:.2f}",
            )


def operator_periods(now: float) -> tuple[float, float]:
    """When the operator's current UTC day and month began (epoch seconds)."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp(), day.replace(day=1).timestamp()


@dataclass(frozen=True, slots=True)
class Grant:
    """Extra allowance a moderator gave a member for one day (``/usage grant``); grants of
    the same day add up."""

    images: int = 0
    videos: int = 0
    usd: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.images or self.videos or self.usd)


def with_grant(limits: Limits, grant: Grant) -> Limits:
    """The member's limits for the day of ``grant``: each daily limit raised by it (a
    dimension with no limit stays unlimited; the server's budgets are not raised)."""
    if not grant:
        return limits

    def raised(limit: Any, extra: Any) -> Any:
        return None if limit is None else round(limit + extra, 6)

    return replace(
        limits,
        images_per_day=raised(limits.images_per_day, grant.images),
        videos_per_day=raised(limits.videos_per_day, grant.videos),
        spend_per_day_usd=raised(limits.spend_per_day_usd, grant.usd),
    )


@dataclass(frozen=True, slots=True)
class Usage:
    """What counts against the limits right now (refunded jobs excluded), and the
    member's grant for today."""

    images_today: int = 0
    videos_today: int = 0
    spend_today_usd: float = 0.0
    active_jobs: int = 0
    last_job_at: float | None = None
    guild_spend_today_usd: float = 0.0
    guild_spend_month_usd: float = 0.0
    operator_spend_today_usd: float = 0.0
    operator_spend_month_usd: float = 0.0
    grant: Grant = field(default_factory=Grant)


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
        for name, value in limits.as_dict().items():
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
    if _over(usage.operator_spend_month_usd + charge.usd, operator.monthly_usd):
        raise LimitReached(
            "The bot's spending cap for this month is used up, for every server it serves. "
            "Its operator can raise it."
        )
    if _over(usage.operator_spend_today_usd + charge.usd, operator.daily_usd):
        raise LimitReached(
            "The bot's spending cap for today is used up, for every server it serves. "
            "It resets {resets}.",
            resets=f"<t:{int(next_reset(now))}:R>",
        )
    resets = f"<t:{int(next_reset(now, policy.rollover_hour_utc))}:R>"
    if _over(usage.guild_spend_month_usd + charge.usd, policy.monthly_budget_usd):
        raise LimitReached(
            "The server's monthly budget ({budget}) is used up. "
            "A moderator can raise it with /settings.",
            budget=f"${policy.monthly_budget_usd:.2f}",
        )
    if _over(usage.guild_spend_today_usd + charge.usd, policy.daily_budget_usd):
        raise LimitReached(
            "The server's budget for today ({budget}) is used up. It resets {resets}.",
            budget=f"${policy.daily_budget_usd:.2f}",
            resets=resets,
        )
    if exempt:
        return
    limits = with_grant(limits, usage.grant)  # a moderator's grant raises today's limits
    if limits.jobs_at_once is not None and usage.active_jobs >= limits.jobs_at_once:
        raise LimitReached(
            "You already have {active} job(s) running (the limit is {limit}). "
            "Wait for one to finish, or cancel one with /cancel.",
            active=usage.active_jobs,
            limit=limits.jobs_at_once,
        )
    since_last = now - usage.last_job_at if usage.last_job_at is not None else math.inf
    if limits.cooldown_seconds and since_last < limits.cooldown_seconds:
        wait = math.ceil(limits.cooldown_seconds - since_last)
        raise LimitReached("Slow down: you can start another job in {wait} s.", wait=wait)
    if charge.images and _over(usage.images_today + charge.images, limits.images_per_day):
        raise LimitReached(
            "This needs {needed} image(s) and you have {left} of {limit} left today. "
            "It resets {resets}.",
            needed=charge.images,
            left=remaining(limits, usage)["images_per_day"],
            limit=limits.images_per_day,
            resets=resets,
        )
    if charge.videos and _over(usage.videos_today + charge.videos, limits.videos_per_day):
        raise LimitReached(
            "You have used all {limit} video(s) for today. It resets {resets}.",
            limit=limits.videos_per_day,
            resets=resets,
        )
    if _over(usage.spend_today_usd + charge.usd, limits.spend_per_day_usd):
        raise LimitReached(
            "This costs about {cost} and you have {left} of {limit} left today. "
            "It resets {resets}.",
            cost=f"${charge.usd:.3f}",
            left=f"${max(0.0, (limits.spend_per_day_usd or 0.0) - usage.spend_today_usd):.3f}",
            limit=f"${limits.spend_per_day_usd:.2f}",
            resets=resets,
        )


def remaining(limits: Limits, usage: Usage) -> dict[str, Any]:
    """What is left today per dimension (``None``: no limit), for /usage."""

    def left(limit: int | None, used: int) -> int | None:
        return None if limit is None else max(0, limit - used)

    spend = limits.spend_per_day_usd
    return {
        "images_per_day": left(limits.images_per_day, usage.images_today),
        "videos_per_day": left(limits.videos_per_day, usage.videos_today),
        "spend_per_day_usd": None
        if spend is None
        else max(0.0, round(spend - usage.spend_today_usd, 6)),
        "jobs_at_once": left(limits.jobs_at_once, usage.active_jobs),
    }
