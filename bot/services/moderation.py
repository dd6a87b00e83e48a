"""Moderators' rules for limits, blocks and usage reports, with plain values in and out
(``cogs/moderation/`` reads the interaction and draws the answer). Changes are audited
here in English; refusals raise English templates."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NoReturn

from bot.domain.errors import NotAllowed, UserFacingError, mark_audited
from bot.domain.guild_config import GuildConfig
from bot.domain.quota import LimitLayers, Limits, Usage, effective_limits, period_keys
from bot.domain.units import parse_duration
from bot.services.audit import AuditLog, target_for
from bot.store import Store
from bot.text import usage_report as report

Scope = Literal["guild", "role", "user"]


def stored_target(scope: Scope, target_id: int) -> str:
    return "guild" if scope == "guild" else target_for(scope, target_id)


@dataclass(frozen=True, slots=True)
class LimitsChange:
    """``/limits set`` or ``reset``: the layer before and after, and what now applies."""

    before: Limits
    after: Limits
    applies: Limits


@dataclass(frozen=True, slots=True)
class LimitsView:
    """``/limits show``: the layers for a target, and what applies."""

    layers: LimitLayers
    role_rows: list[tuple[int, Limits]]  # the target's roles that have limits
    applies: Limits
    rows: list[tuple[str, int, Limits]]  # every row of the server
    exempt: bool
    block: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class UsageView:
    """``/usage``: today against the limits, and a period's charges."""

    config: GuildConfig
    now: float
    today: Usage
    applies: Limits
    exempt: bool
    span: report.Span
    rows: list[dict[str, Any]]  # the member's charges in the period
    guild_rows: list[dict[str, Any]]  # the server's (moderators only; else empty)
    grants: list[dict[str, Any]] = field(default_factory=list)  # moderators: /usage grant rows


class ModerationService:
    """Limits per server, role and member; blocks; usage; refusals of moderator commands."""

    def __init__(
        self, store: Store, audit: AuditLog, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.audit = audit
        self.clock = clock

    async def refuse(
        self, guild_id: int | None, actor_id: int, command: str, why: str, error: NotAllowed
    ) -> NoReturn:
        """Record a refusal (``why``, in English) and raise ``error`` for the member."""
        await self.audit.refused(guild_id, actor_id, f"/{command}", why, "NotAllowed")
        raise mark_audited(error)

    # -- limits ------------------------------------------------------------------------

    async def layers_for(
        self, guild_id: int, scope: Scope, target_id: int, member_roles: Collection[int] = ()
    ) -> tuple[LimitLayers, list[tuple[int, Limits]]]:
        """The layers for a member with ``member_roles`` (a role: a member with only that
        role; the server: a member with no role), and the role rows among them."""
        user_id = target_id if scope == "user" else None
        wanted = {target_id} if scope == "role" else set(member_roles)
        rows = await self.store.all_limits(guild_id)
        guild = next((lim for s, _, lim in rows if s == "guild"), Limits())
        roles = [(tid, lim) for s, tid, lim in rows if s == "role" and tid in wanted]
        user = next((lim for s, tid, lim in rows if s == "user" and tid == user_id), Limits())
        return LimitLayers(guild, tuple(lim for _, lim in roles), user), roles

    async def set_limits(
        self,
        guild_id: int,
        actor_id: int,
        scope: Scope,
        target_id: int,
        given: Mapping[str, float | None],
        member_roles: Sequence[int] = (),
    ) -> LimitsChange:
        """Change the options given (a negative value clears that one; the rest keep
        their value); a layer left empty is removed."""
        changes: dict[str, Any] = {
            k: (None if v < 0 else v) for k, v in given.items() if v is not None
        }
        if not changes:
            raise UserFacingError(
                "Give at least one limit to set (images_per_day, videos_per_day, "
                "jobs_at_once, spend_per_day_usd, cooldown_seconds)."
            )
        before = await self.store.limits_row(guild_id, scope, target_id)
        after = replace(before, **changes)
        if after == Limits():
            await self.store.reset_limits(guild_id, scope, target_id)
        else:
            await self.store.set_limits(guild_id, scope, target_id, after)
        await self.audit.change(
            guild_id,
            actor_id,
            "limits.set",
            stored_target(scope, target_id),
            report.changes_summary(before, after),
            before=before.as_dict(),
            after=after.as_dict(),
        )
        layers, _ = await self.layers_for(guild_id, scope, target_id, member_roles)
        return LimitsChange(before, after, effective_limits(layers))

    async def reset_limits(
        self,
        guild_id: int,
        actor_id: int,
        scope: Scope,
        target_id: int,
        member_roles: Sequence[int],
    ) -> LimitsChange | None:
        """Remove a layer; ``None`` when it had nothing set."""
        before = await self.store.limits_row(guild_id, scope, target_id)
        if not await self.store.reset_limits(guild_id, scope, target_id):
            return None
        await self.audit.change(
            guild_id,
            actor_id,
            "limits.reset",
            stored_target(scope, target_id),
            f"was {report.limits_line(before)}",
            before=before.as_dict(),
        )
        layers, _ = await self.layers_for(guild_id, scope, target_id, member_roles)
        return LimitsChange(before, Limits(), effective_limits(layers))

    async def show_limits(
        self, guild_id: int, scope: Scope, target_id: int, role_ids: Sequence[int]
    ) -> LimitsView:
        """The layers for a member (with ``role_ids``), a role, or the server default."""
        layers, role_rows = await self.layers_for(guild_id, scope, target_id, role_ids)
        exempt, block = False, None
        if scope == "user":
            config = await self.store.guild_config(guild_id)
            exempt = bool(config.exempt_role_ids & set(role_ids))
            block = await self.store.active_block(guild_id, target_id, self.clock())
        rows = await self.store.all_limits(guild_id) if scope == "guild" else []
        return LimitsView(layers, role_rows, effective_limits(layers), rows, exempt, block)

    # -- blocks ------------------------------------------------------------------------

    async def block(
        self,
        guild_id: int,
        actor_id: int,
        user_id: int,
        *,
        reason: str | None,
        duration: str | None,
        is_bot: bool = False,
    ) -> float | None:
        """Block a member from starting jobs here; the time it ends (``None``: never)."""
        if user_id == actor_id:
            raise UserFacingError("You can't block yourself.")
        if is_bot:
            raise UserFacingError("Bots don't use Atelier; there is nothing to block.")
        seconds = parse_duration(duration)
        until = None if seconds is None else self.clock() + seconds
        await self.store.block(guild_id, user_id, reason, until, actor_id)
        await self.audit.change(
            guild_id,
            actor_id,
            "block",
            target_for("user", user_id),
            report.block_text(reason, until),
            reason=reason,
            until=until,
        )
        return until

    async def unblock(self, guild_id: int, actor_id: int, user_id: int) -> bool:
        """Lift a block; ``False`` when the member was not blocked."""
        if not await self.store.unblock(guild_id, user_id):
            return False
        await self.audit.change(guild_id, actor_id, "unblock", target_for("user", user_id), "")
        return True

    # -- usage -------------------------------------------------------------------------

    async def check_usage_access(
        self, guild_id: int, actor_id: int, target_id: int, *, moderator: bool, export: bool
    ) -> None:
        """Members see their own usage; moderators anyone's, and may export it."""
        if moderator:
            return
        if target_id != actor_id:
            error = NotAllowed("Only moderators can see another member's usage.")
            await self.refuse(guild_id, actor_id, "usage", "another member's usage", error)
        if export:
            error = NotAllowed("Only moderators can export usage.")
            await self.refuse(guild_id, actor_id, "usage", "usage export", error)

    async def usage(
        self,
        guild_id: int,
        user_id: int,
        role_ids: Sequence[int],
        period: str,
        *,
        with_server: bool,
    ) -> UsageView:
        """A member's day and period; the whole server's period too when ``with_server``."""
        config = await self.store.guild_config(guild_id)
        now = self.clock()
        day, month = period_keys(now, config.rollover_hour_utc)
        today = await self.store.usage(guild_id, user_id, day, month)
        layers, _ = await self.layers_for(guild_id, "user", user_id, role_ids)
        span = report.period_span(period, now, config.rollover_hour_utc)
        rows = await self.store.charges_in(
            guild_id, span.since_day, span.until_day, user_id=user_id
        )
        guild_rows = (
            await self.store.charges_in(guild_id, span.since_day, span.until_day)
            if with_server
            else []
        )
        exempt = bool(config.exempt_role_ids & set(role_ids))
        grants = (
            await self.store.grants_in(guild_id, span.since_day, span.until_day)
            if with_server
            else []
        )
        return UsageView(
            config, now, today, effective_limits(layers), exempt, span, rows, guild_rows, grants
        )

    async def export(
        self,
        guild_id: int,
        actor_id: int,
        rows: Sequence[Mapping[str, Any]],
        span: report.Span,
        *,
        user_id: int | None,
        max_bytes: int,
        grants: Sequence[Mapping[str, Any]] = (),
    ) -> bytes:
        """The rows and grants as CSV (one member's when ``user_id``, else the server's),
        audited."""
        if user_id is not None:
            grants = [g for g in grants if int(g["user_id"]) == user_id]
        data = report.csv_bytes(rows, grants)
        if len(data) > max_bytes:
            raise UserFacingError("The export is too large to attach; choose a shorter period.")
        await self.audit.change(
            guild_id,
            actor_id,
            "usage.export",
            target_for("user", user_id) if user_id is not None else "guild",
            f"{len(rows)} job(s), {span.since_day} to {span.until_day}",
        )
        return data
