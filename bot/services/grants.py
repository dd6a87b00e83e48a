"""``/usage grant`` and ``/usage refund``: a moderator raises a member's allowance for the
current day, or gives a finished job's charge back once. Plain values in and out; both
audited here in English; refusals raise English templates."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.domain.errors import UserFacingError
from bot.domain.quota import Grant, next_reset, period_keys
from bot.services.audit import AuditLog, target_for
from bot.store import Store
from bot.text import usage_report as report

#: What one grant may add (a typo should not hand out a fortune).
MAX_IMAGES = 1000
MAX_VIDEOS = 100
MAX_USD = 1000.0


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    """A grant as recorded: what was added, the day's total, and when that day ends."""

    day: str
    added: Grant
    total: Grant
    ends_at: float


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    """A refunded charge, with what the member's notice needs."""

    job_id: int
    user_id: int
    channel_id: int
    locale: str | None
    prompt: str
    images: int
    videos: int
    usd: float
    reason: str | None
    result_message_id: int | None


class GrantService:
    """Day grants and refunds by moderators (the caller checked Manage Server)."""

    def __init__(
        self, store: Store, audit: AuditLog, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.audit = audit
        self.clock = clock

    async def grant(
        self,
        guild_id: int,
        actor_id: int,
        user_id: int,
        added: Grant,
        *,
        reason: str | None = None,
        is_bot: bool = False,
    ) -> GrantOutcome:
        """Add ``added`` to the member's allowance for the server's current day."""
        if is_bot:
            raise UserFacingError("Bots don't use Atelier; there is nothing to grant.")
        if min(added.images, added.videos, added.usd) < 0 or not added:
            raise UserFacingError("Give at least one of images, videos or usd to grant.")
        if added.images > MAX_IMAGES or added.videos > MAX_VIDEOS or added.usd > MAX_USD:
            raise UserFacingError(
                "One grant gives at most {images} images, {videos} videos and {usd}.",
                images=MAX_IMAGES,
                videos=MAX_VIDEOS,
                usd=report.money(MAX_USD),
            )
        config = await self.store.guild_config(guild_id)
        now = self.clock()
        day, _ = period_keys(now, config.rollover_hour_utc)
        total = await self.store.add_grant(guild_id, user_id, day, added)
        summary = f"{report.grant_text(added)} for {day}" + (f" ({reason})" if reason else "")
        await self.audit.change(
            guild_id,
            actor_id,
            "usage.grant",
            target_for("user", user_id),
            summary,
            day=day,
            images=added.images,
            videos=added.videos,
            usd=added.usd,
            reason=reason,
        )
        return GrantOutcome(day, added, total, next_reset(now, config.rollover_hour_utc))

    async def refundable(self, guild_id: int, typed: str, limit: int = 25) -> list[dict[str, Any]]:
        """Charges ``/usage refund`` could give back, newest first, whose job number
        starts with what was typed (``#`` allowed)."""
        wanted = typed.strip().lstrip("#")
        rows = await self.store.refundable(guild_id)
        return [r for r in rows if str(r["job_id"]).startswith(wanted)][:limit]

    async def refund(
        self, guild_id: int, actor_id: int, job_id: int, reason: str | None = None
    ) -> RefundOutcome:
        """Give a finished job's charge back, once; anything else is one sentence."""
        result = await self.store.refund_charge(guild_id, job_id, actor_id, reason)
        row = result.charge or {}
        if result.state == "no_job":
            raise UserFacingError("There is no job #{job_id} in this server.", job_id=job_id)
        if result.state == "running":
            raise UserFacingError(
                "Job #{job_id} has not finished, so its cost is not final: cancel it with "
                "/cancel, or refund it once it has ended.",
                job_id=job_id,
            )
        if result.state == "never_charged":
            raise UserFacingError(
                "Job #{job_id} was never charged: it ended without a result, so its cost "
                "was given back already.",
                job_id=job_id,
            )
        if result.state == "already_refunded":
            raise UserFacingError(
                "Job #{job_id} was refunded already, by <@{by}> <t:{at}:R>.",
                job_id=job_id,
                by=row["refunded_by"],
                at=int(row["updated_at"]),
            )
        message_ids = json.loads(row["result_message_ids"] or "[]")
        outcome = RefundOutcome(
            job_id=job_id,
            user_id=int(row["user_id"]),
            channel_id=int(row["channel_id"]),
            locale=row["locale"],
            prompt=str(row["prompt"] or ""),
            images=int(row["images"]),
            videos=int(row["videos"]),
            usd=float(row["usd"]),
            reason=reason,
            result_message_id=int(message_ids[0]) if message_ids else None,
        )
        await self.audit.change(
            guild_id,
            actor_id,
            "usage.refund",
            target_for("user", outcome.user_id),
            f"job #{job_id}, {report.money(outcome.usd)} given back"
            + (f" ({reason})" if reason else ""),
            job_id=job_id,
            usd=outcome.usd,
            reason=reason,
        )
        return outcome
