"""Per-guild rows: usage and spend, limits, settings, blocks and the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import fields
from typing import Any

from bot.domain.guild_config import GuildConfig
from bot.domain.job_states import TERMINAL
from bot.domain.quota import DIMENSIONS, Grant, LimitLayers, Limits, Usage
from bot.store.database import StoreBase, marks

#: Guild settings stored as JSON lists that :class:`GuildConfig` holds as sets.
_SET_SETTINGS = ("allowed_models", "channel_ids", "exempt_role_ids", "spoiler_channel_ids")


def _grant(row: Sequence[Any]) -> Grant:
    """A grant from its ``images, videos, usd`` columns (all NULL: none that day)."""
    if row[0] is None:
        return Grant()
    return Grant(int(row[0]), int(row[1]), float(row[2]))


class GuildQueries(StoreBase):
    """Usage, limits, settings, blocks and audit rows of a guild."""

    # -- usage and spend ----------------------------------------------------------------

    def _add_spend(self, guild_id: int | None, day: str, month: str, usd: float) -> None:
        """Add ``usd`` to the guild's running spend of the day and of the month."""
        self.db.execute(
            "INSERT INTO spend_totals (guild_id, period, usd) VALUES (?, ?, ?), (?, ?, ?) "
            "ON CONFLICT (guild_id, period) DO UPDATE SET usd = spend_totals.usd + excluded.usd",
            [guild_id or 0, f"d:{day}", usd, guild_id or 0, f"m:{month}", usd],
        )

    def _usage(self, guild_id: int | None, user_id: int, day: str, month: str) -> Usage:
        """Today's and this month's reservations (refunded ones excluded): the member's
        from their charges, the guild's from the running totals."""
        grant = "(SELECT {} FROM grants WHERE guild_id = ? AND user_id = ? AND day = ?)"
        (images, videos, spend, guild_day, guild_month, active, last, *granted) = self.db.execute(
            "SELECT COALESCE(SUM(images), 0), COALESCE(SUM(videos), 0), COALESCE(SUM(usd), 0), "
            "(SELECT usd FROM spend_totals WHERE guild_id = ? AND period = ?), "
            "(SELECT usd FROM spend_totals WHERE guild_id = ? AND period = ?), "
            f"(SELECT COUNT(CASE WHEN state NOT IN ({marks(TERMINAL)}) THEN 1 END) FROM jobs "
            "WHERE guild_id IS NOT DISTINCT FROM ? AND user_id = ?), "
            "(SELECT MAX(created_at) FROM jobs WHERE guild_id IS NOT DISTINCT FROM ? "
            "AND user_id = ?), "
            f"{grant.format('images')}, {grant.format('videos')}, {grant.format('usd')} "
            "FROM charges WHERE guild_id IS NOT DISTINCT FROM ? AND user_id = ? AND day = ? "
            "AND state != 'refunded'",
            [
                guild_id or 0,
                f"d:{day}",
                guild_id or 0,
                f"m:{month}",
                *[s.value for s in TERMINAL],
                *[guild_id, user_id] * 2,
                *[guild_id or 0, user_id, day] * 3,
                guild_id,
                user_id,
                day,
            ],
        ).fetchone()
        return Usage(
            grant=_grant(granted),  # the moderators' for the day, read in the same statement
            images_today=int(images),
            videos_today=int(videos),
            spend_today_usd=float(spend),
            active_jobs=int(active),
            last_job_at=float(last) if last is not None else None,
            guild_spend_today_usd=float(guild_day or 0.0),
            guild_spend_month_usd=float(guild_month or 0.0),
        )

    def _day_grant(self, guild_id: int | None, user_id: int, day: str) -> Grant:
        """A moderator's grant to the member for ``day`` (``/usage grant``)."""
        row = self.db.execute(
            "SELECT images, videos, usd FROM grants WHERE guild_id = ? AND user_id = ? AND day = ?",
            [guild_id or 0, user_id, day],
        ).fetchone()
        return _grant(row or (None, None, None))

    async def usage(self, guild_id: int | None, user_id: int, day: str, month: str) -> Usage:
        return await self.run(lambda: self._usage(guild_id, user_id, day, month))

    def _operator_spend(self, since: tuple[float, float]) -> tuple[float, float]:
        """What every server together reserved since the operator's day and month began
        (refunded charges excluded)."""
        day_start, month_start = since
        today, month = self.db.execute(
            "SELECT COALESCE(SUM(CASE WHEN created_at >= ? THEN usd END), 0), "
            "COALESCE(SUM(usd), 0) FROM charges WHERE created_at >= ? AND state != 'refunded'",
            [day_start, min(day_start, month_start)],
        ).fetchone()
        return float(today), float(month)

    async def operator_spend(self, since: tuple[float, float]) -> tuple[float, float]:
        """What every server together reserved this UTC day and month (for /status)."""
        return await self.run(lambda: self._operator_spend(since))

    async def charges_in(
        self, guild_id: int, since_day: str, until_day: str, user_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Charges (with their jobs) for days in [since_day, until_day], newest first."""
        sql = (
            "SELECT c.job_id, c.user_id, c.images, c.videos, c.usd, c.day, c.state, "
            "c.refunded_by, c.refund_reason, "
            "j.model, j.media, j.state AS job_state, j.prompt, j.created_at "
            "FROM charges c JOIN jobs j ON j.id = c.job_id "
            "WHERE c.guild_id = ? AND c.day >= ? AND c.day <= ?"
        )
        params: list[Any] = [guild_id, since_day, until_day]
        if user_id is not None:
            sql += " AND c.user_id = ?"
            params.append(user_id)
        return await self.run(lambda: self._dicts(sql + " ORDER BY c.job_id DESC", params))

    # -- limits -------------------------------------------------------------------------

    async def limit_layers(
        self, guild_id: int, user_id: int, role_ids: Collection[int] = ()
    ) -> LimitLayers:
        """The limit rows that apply to one member (from the guild's cached rows)."""
        guild, user, roles = Limits(), Limits(), []
        wanted_roles = set(role_ids)
        for scope, target, limits in await self.all_limits(guild_id):
            if scope == "guild":
                guild = limits
            elif scope == "user" and target == user_id:
                user = limits
            elif scope == "role" and target in wanted_roles:
                roles.append(limits)
        return LimitLayers(guild=guild, roles=tuple(roles), user=user)

    async def limits_row(self, guild_id: int, scope: str, target_id: int) -> Limits:
        sql = "SELECT * FROM limits WHERE guild_id = ? AND scope = ? AND target_id = ?"
        row = await self.run(lambda: self._one(sql, [guild_id, scope, target_id]))
        return Limits.from_mapping(row or {})

    async def set_limits(self, guild_id: int, scope: str, target_id: int, limits: Limits) -> None:
        cols = ", ".join(DIMENSIONS)
        updates = ", ".join(f"{k} = excluded.{k}" for k in DIMENSIONS)
        sql = (
            f"INSERT INTO limits (guild_id, scope, target_id, {cols}, updated_at) "
            f"VALUES (?, ?, ?, {marks(DIMENSIONS)}, ?) "
            f"ON CONFLICT (guild_id, scope, target_id) DO UPDATE SET {updates}, "
            "updated_at = excluded.updated_at"
        )
        params = [guild_id, scope, target_id, *limits.as_dict().values(), self.clock()]
        await self.run(lambda: self._write("limits", guild_id, sql, params))

    async def reset_limits(self, guild_id: int, scope: str, target_id: int) -> bool:
        sql = "DELETE FROM limits WHERE guild_id = ? AND scope = ? AND target_id = ?"
        params = [guild_id, scope, target_id]
        return await self.run(lambda: self._write("limits", guild_id, sql, params)) > 0

    async def all_limits(self, guild_id: int) -> list[tuple[str, int, Limits]]:
        """Every limits row of a guild as (scope, target id, limits)."""
        cached: list[tuple[str, int, Limits]] | None = self._cached("limits", guild_id)
        if cached is None:
            cached = await self.run(lambda: self._load_limits(guild_id))
        return list(cached)

    def _load_limits(self, guild_id: int) -> list[tuple[str, int, Limits]]:
        rows = self.db.execute(
            f"SELECT scope, target_id, {', '.join(DIMENSIONS)} FROM limits WHERE guild_id = ? "
            "ORDER BY scope, target_id",
            [guild_id],
        ).fetchall()
        loaded = [
            (scope, int(target), Limits(**dict(zip(DIMENSIONS, values, strict=True))))
            for scope, target, *values in rows
        ]
        self._keep("limits", guild_id, loaded)
        return loaded

    def _write(self, kind: str, guild_id: int, sql: str, params: list[Any]) -> int:
        """Run one write to a cached kind of guild row and drop the cached copy; returns
        how many rows it changed."""
        rowcount: int = self.db.execute(sql, params).rowcount
        self._cache.pop((kind, guild_id), None)
        return rowcount

    # -- settings -----------------------------------------------------------------------

    async def guild_config(self, guild_id: int) -> GuildConfig:
        cached: GuildConfig | None = self._cached("config", guild_id)
        if cached is not None:
            return cached
        return await self.run(lambda: self._cache_config(guild_id, self._settings(guild_id)))

    async def update_guild_config(self, guild_id: int, **values: Any) -> GuildConfig:
        """Change some settings (names are :class:`GuildConfig` fields)."""
        return await self.edit_guild_config(guild_id, lambda _: values)

    async def edit_guild_config(
        self, guild_id: int, edit: Callable[[GuildConfig], Mapping[str, Any]]
    ) -> GuildConfig:
        """Read-modify-write in one transaction: ``edit`` (pure, no awaits) gets the
        current settings and returns the changes, so two moderators editing a list at
        the same moment cannot lose each other's change."""
        return await self.run(lambda: self._edit_guild_config(guild_id, edit))

    def _settings(self, guild_id: int) -> dict[str, Any]:
        row = self._one("SELECT settings FROM guild_settings WHERE guild_id = ?", [guild_id])
        return json.loads(row["settings"]) if row else {}

    def _cache_config(self, guild_id: int, settings: Mapping[str, Any]) -> GuildConfig:
        config = _config_from(guild_id, settings)
        self._keep("config", guild_id, config)
        return config

    def _edit_guild_config(
        self, guild_id: int, edit: Callable[[GuildConfig], Mapping[str, Any]]
    ) -> GuildConfig:
        allowed = {f.name for f in fields(GuildConfig)} - {"guild_id"}
        with self._transaction():
            self.db.lock(guild_id)  # another process's edit waits (it would be lost)
            current = self._settings(guild_id)
            values = edit(_config_from(guild_id, current))
            unknown = set(values) - allowed
            if unknown:
                raise KeyError(f"unknown guild settings {sorted(unknown)}")
            for key, value in values.items():
                if isinstance(value, frozenset | set):
                    value = sorted(value)
                elif isinstance(value, tuple):
                    value = list(value)
                current[key] = value
            self.db.execute(
                "INSERT INTO guild_settings (guild_id, settings, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings, "
                "updated_at = excluded.updated_at",
                [guild_id, json.dumps(current, ensure_ascii=False), self.clock()],
            )
        return self._cache_config(guild_id, current)

    # -- blocks and audit -----------------------------------------------------------------

    async def block(
        self,
        guild_id: int,
        user_id: int,
        reason: str | None,
        until: float | None,
        by_user_id: int | None,
    ) -> None:
        sql = (
            "INSERT INTO blocks (guild_id, user_id, reason, until, by_user_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "reason = excluded.reason, until = excluded.until, "
            "by_user_id = excluded.by_user_id, created_at = excluded.created_at"
        )
        params = [guild_id, user_id, reason, until, by_user_id, self.clock()]
        await self.run(lambda: self._write("blocks", guild_id, sql, params))

    async def unblock(self, guild_id: int, user_id: int) -> bool:
        sql = "DELETE FROM blocks WHERE guild_id = ? AND user_id = ?"
        return await self.run(lambda: self._write("blocks", guild_id, sql, [guild_id, user_id])) > 0

    async def active_block(self, guild_id: int, user_id: int, now: float) -> dict[str, Any] | None:
        """The member's block if it has not expired."""
        blocks: dict[int, dict[str, Any]] | None = self._cached("blocks", guild_id)
        if blocks is None:
            blocks = await self.run(lambda: self._load_blocks(guild_id))
        block = blocks.get(user_id)
        if block is None or (block["until"] is not None and block["until"] <= now):
            return None
        return dict(block)

    def _load_blocks(self, guild_id: int) -> dict[int, dict[str, Any]]:
        rows = self._dicts(
            "SELECT user_id, reason, until, by_user_id, created_at FROM blocks WHERE guild_id = ?",
            [guild_id],
        )
        blocks = {int(row.pop("user_id")): row for row in rows}
        self._keep("blocks", guild_id, blocks)
        return blocks

    async def add_audit(
        self,
        guild_id: int | None,
        actor_id: int | None,
        action: str,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        sql = (
            "INSERT INTO audit (guild_id, at, actor_id, action, target, detail) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"
        )
        detail_json = json.dumps(dict(detail or {}), ensure_ascii=False, default=str)
        params = [guild_id, self.clock(), actor_id, action, target, detail_json]
        return await self.run(lambda: int(self.db.execute(sql, params).fetchone()[0]))

    async def audit_entries(self, guild_id: int, limit: int = 50) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            rows = self._dicts(
                "SELECT id, at, actor_id, action, target, detail FROM audit WHERE guild_id = ? "
                "ORDER BY id DESC LIMIT ?",
                [guild_id, limit],
            )
            for row in rows:
                row["detail"] = json.loads(row["detail"])
            return rows

        return await self.run(read)


def _config_from(guild_id: int, raw: Mapping[str, Any]) -> GuildConfig:
    """A :class:`GuildConfig` from stored settings (JSON lists back to sets and tuples)."""
    values: dict[str, Any] = {"guild_id": guild_id}
    for f in fields(GuildConfig):
        if f.name == "guild_id" or f.name not in raw:
            continue
        value = raw[f.name]
        if f.name in _SET_SETTINGS:
            value = frozenset(value)
        elif f.name == "banned_words":
            value = tuple(value)
        elif f.name == "channel_defaults":  # JSON object keys are strings
            value = {int(channel): dict(chosen) for channel, chosen in value.items()}
        values[f.name] = value
    return GuildConfig(**values)
