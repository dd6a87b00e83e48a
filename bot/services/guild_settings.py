"""Moderators' edits to a server's settings (``/settings``): channels, banned words, models,
budget, exempt roles, the audit channel. Each change is audited in English and said back
in the moderator's language; refusals raise English templates."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bot.domain.catalog import OPTION_FIELDS, Catalog, Media
from bot.domain.errors import UserFacingError
from bot.domain.guild_config import ChannelMode, GuildConfig
from bot.domain.quota import OperatorCap
from bot.domain.word_filter import MAX_PATTERNS, check_pattern, compile_entry, is_pattern
from bot.services.audit import AuditLog, target_for
from bot.store import Store
from bot.text import usage_report as report
from bot.text.i18n import t

ChannelAction = Literal["allow", "deny", "remove", "all"]

MAX_WORDS = 500
MAX_WORD_CHARS = 100
RESET_KEYWORDS = ("default", "none", "-")
ALL_KEYWORDS = ("all", "*", "any")


def split_entries(text: str) -> list[str]:
    """A word-list option: comma-separated entries; a single ``/regex/`` may hold commas."""
    text = text.strip()
    if len(text) > 2 and text.startswith("/") and text.endswith("/"):
        return [text]
    return [part.strip() for part in text.split(",") if part.strip()]


def split_ids(text: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", text.strip()) if part]


@dataclass(frozen=True, slots=True)
class Change:
    """A settings change: the settings after it, and what changed in the reader's words."""

    config: GuildConfig
    summary: str


async def audited(
    audit: AuditLog,
    guild_id: int,
    actor_id: int,
    action: str,
    config: GuildConfig,
    summary: Callable[[str | None], str],
    locale: str | None,
    *,
    target: str | None = None,
    **detail: Any,
) -> Change:
    """Audit a change (in English) and say it back in the reader's ``locale``."""
    await audit.change(guild_id, actor_id, action, target, summary(None), **detail)
    return Change(config, summary(locale))


def check_model(catalog: Catalog, model_id: str, media: Media) -> str:
    """The id of an enabled model of this media, or a refusal saying why not."""
    model_id = model_id.strip()
    if not any(m.id == model_id for m in catalog.enabled()):
        raise UserFacingError("Unknown model `{model}`: see /models for the list.", model=model_id)
    if catalog.get(model_id).media != media:
        raise UserFacingError("`{model}` is not an {media} model.", model=model_id, media=media)
    return model_id


def check_option(catalog: Catalog, key: str, value: str) -> str:
    """A ratio or resolution some enabled model takes (a job whose model does not take it
    falls back to the next default in line)."""
    for model in catalog.enabled():
        spec = model.option(OPTION_FIELDS[key])
        if spec is not None and spec.normalise(value) is not None:
            return value
    raise UserFacingError(
        "No model takes {option} {value}: see /models for the values.",
        option=key,
        value=value,
    )


class GuildSettingsService:
    """Reads and edits one server's settings."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        catalog: Catalog,
        operator_cap: OperatorCap | None = None,
    ) -> None:
        self.store = store
        self.audit = audit
        self.catalog = catalog
        self.operator_cap = operator_cap or OperatorCap()

    async def guild_config(self, guild_id: int) -> GuildConfig:
        return await self.store.guild_config(guild_id)

    async def changed(
        self,
        guild_id: int,
        actor_id: int,
        action: str,
        config: GuildConfig,
        summary: Callable[[str | None], str],
        locale: str | None,
        *,
        target: str | None = None,
        **detail: Any,
    ) -> Change:
        """Audit a change (in English) and say it back in the reader's ``locale``."""
        return await audited(
            self.audit, guild_id, actor_id, action, config, summary, locale, target=target, **detail
        )

    async def set_channels(
        self,
        guild_id: int,
        actor_id: int,
        action: ChannelAction,
        channel_id: int | None,
        locale: str | None,
    ) -> Change:
        """``allow``/``deny`` add the channel to that list (switching lists starts a new
        one: they mean opposite things); ``remove`` takes it off (an emptied list means
        every channel again); ``all`` drops the list."""
        config = await self.store.guild_config(guild_id)
        ids = set(config.channel_ids)
        note = ""
        mode: ChannelMode
        if action == "all" or channel_id is None:
            mode, ids = "all", set()
        elif action == "remove":
            if channel_id not in ids:
                raise UserFacingError("{channel} is not on the list.", channel=f"<#{channel_id}>")
            ids.discard(channel_id)
            mode = config.channel_mode if ids else "all"
            if not ids and config.channel_mode == "allow":
                note = " The allow list is empty, so every channel is allowed again."
        else:
            ids = (ids if config.channel_mode == action else set()) | {channel_id}
            mode = action
        updated = await self.store.update_guild_config(
            guild_id, channel_mode=mode, channel_ids=frozenset(ids)
        )
        return await self.changed(
            guild_id,
            actor_id,
            "settings.channels",
            updated,
            lambda loc: report.channels_text(updated, loc) + (t(loc, note) if note else ""),
            locale,
            target=target_for("channel", channel_id) if channel_id is not None else None,
            mode=mode,
            channel_ids=sorted(ids),
        )

    async def add_words(
        self, guild_id: int, actor_id: int, words: str, locale: str | None
    ) -> Change | None:
        """Add entries to the word list; ``None`` when every one was there already."""
        entries = split_entries(words)
        broken = [
            e
            for e in entries
            if len(e) > MAX_WORD_CHARS or (not is_pattern(e) and compile_entry(e) is None)
        ]
        if broken or not entries:
            raise UserFacingError(
                "I can't use: {entries}. Entries are words or phrases up to {n} "
                "characters, or a valid /regex/.",
                entries=", ".join(f"`{e[:50]}`" for e in broken) or "—",
                n=MAX_WORD_CHARS,
            )
        for entry in entries:
            check_pattern(entry)  # a pattern that can't be checked quickly is refused here
        added: list[str] = []

        def add(config: GuildConfig) -> dict[str, Any]:
            """Runs in the store's transaction: a refusal here stores nothing."""
            known = {w.casefold() for w in config.banned_words}
            added.clear()
            for entry in entries:
                if entry.casefold() not in known:
                    known.add(entry.casefold())
                    added.append(entry)
            new_list = (*config.banned_words, *added)
            if len(new_list) > MAX_WORDS:
                raise UserFacingError("The list holds at most {n} entries.", n=MAX_WORDS)
            if any(map(is_pattern, added)) and sum(map(is_pattern, new_list)) > MAX_PATTERNS:
                raise UserFacingError(
                    "The list holds at most {n} patterns (/regex/ entries): remove one "
                    "before adding another.",
                    n=MAX_PATTERNS,
                )
            return {"banned_words": new_list} if added else {}

        updated = await self.store.edit_guild_config(guild_id, add)
        if not added:
            return None
        return await self._words_changed(guild_id, actor_id, updated, locale, added, added=True)

    async def remove_words(
        self, guild_id: int, actor_id: int, words: str, locale: str | None
    ) -> Change:
        """Take entries off the word list (compared without case)."""
        wanted = {e.casefold() for e in split_entries(words)}
        removed: list[str] = []

        def remove(config: GuildConfig) -> dict[str, Any]:
            removed[:] = [w for w in config.banned_words if w.casefold() in wanted]
            if not removed:
                return {}
            kept = tuple(w for w in config.banned_words if w.casefold() not in wanted)
            return {"banned_words": kept}

        updated = await self.store.edit_guild_config(guild_id, remove)
        if not removed:
            raise UserFacingError("None of these is on the list.")
        return await self._words_changed(guild_id, actor_id, updated, locale, removed, added=False)

    async def _words_changed(
        self,
        guild_id: int,
        actor_id: int,
        updated: GuildConfig,
        locale: str | None,
        entries: list[str],
        *,
        added: bool,
    ) -> Change:
        """Audit a word-list change and say it back: ``entries`` were added or removed."""
        shown = ", ".join(f"`{e}`" for e in entries)
        n = len(updated.banned_words)

        def summary(loc: str | None) -> str:
            if added:
                return t(loc, "added {entries} ({n} on the list)", entries=shown, n=n)
            return t(loc, "removed {entries} ({n} on the list)", entries=shown, n=n)

        detail: dict[str, Any] = {"added" if added else "removed": entries}
        return await self.changed(
            guild_id, actor_id, "settings.words", updated, summary, locale, **detail
        )

    async def set_audit_channel(
        self, guild_id: int, actor_id: int, channel_id: int | None, locale: str | None
    ) -> Change:
        """Post audit entries to this channel (``None``: stored only)."""
        updated = await self.store.update_guild_config(guild_id, audit_channel_id=channel_id)
        return await self.changed(
            guild_id,
            actor_id,
            "settings.audit",
            updated,
            lambda loc: (
                t(loc, "audit posts go to {channel}", channel=f"<#{channel_id}>")
                if channel_id
                else t(loc, "audit posts are off (entries are still stored)")
            ),
            locale,
            target=target_for("channel", channel_id) if channel_id else None,
        )

    async def set_budget(
        self,
        guild_id: int,
        actor_id: int,
        *,
        daily_usd: float | None,
        monthly_usd: float | None,
        rollover_hour: int | None,
        confirm_above_usd: float | None = None,
    ) -> Change:
        """The server's budgets (negative: none), the hour its days start, within the
        operator's caps, and the estimate above which a job asks Confirm (0: never)."""
        values: dict[str, Any] = {}
        for key, usd in (("daily_budget_usd", daily_usd), ("monthly_budget_usd", monthly_usd)):
            if usd is not None:
                values[key] = None if usd < 0 else float(usd)
        if rollover_hour is not None:
            values["rollover_hour_utc"] = int(rollover_hour)
        if confirm_above_usd is not None:
            values["confirm_above_usd"] = max(0.0, float(confirm_above_usd))
        if not values:
            raise UserFacingError(
                "Give daily_usd, monthly_usd, rollover_hour or confirm_above_usd."
            )
        self.operator_cap.check_budget(
            values.get("daily_budget_usd"), values.get("monthly_budget_usd")
        )
        updated = await self.store.update_guild_config(guild_id, **values)
        summary = "; ".join(
            f"{key.replace('_', ' ')}: {'none' if v is None else v}" for key, v in values.items()
        )
        return await self.changed(
            guild_id, actor_id, "settings.budget", updated, lambda _: summary, None, **values
        )

    async def set_exempt(
        self,
        guild_id: int,
        actor_id: int,
        role_id: int,
        *,
        add: bool,
        everyone: bool,
        locale: str | None,
    ) -> Change:
        """Let a role skip the member limits (``add``), or follow them again."""
        if everyone:
            raise UserFacingError(
                "Exempting @everyone would lift every member's limits; raise the server "
                "default with /limits set instead."
            )
        roles = (await self.store.guild_config(guild_id)).exempt_role_ids
        role = f"<@&{role_id}>"
        if add and role_id in roles:
            raise UserFacingError("{role} is already exempt.", role=role)
        if not add and role_id not in roles:
            raise UserFacingError("{role} is not exempt.", role=role)
        updated = await self.store.update_guild_config(
            guild_id, exempt_role_ids=(roles | {role_id}) if add else (roles - {role_id})
        )
        return await self.changed(
            guild_id,
            actor_id,
            "settings.exempt",
            updated,
            lambda loc: (
                t(loc, "{role} now skips the member limits (the budget still holds)", role=role)
                if add
                else t(loc, "{role} follows the member limits again", role=role)
            ),
            locale,
            target=target_for("role", role_id),
        )

    # -- models ------------------------------------------------------------------------

    def enabled(self, model_id: str) -> bool:
        return any(m.id == model_id for m in self.catalog.enabled())

    def check_model(self, model_id: str, media: Media) -> str:
        """The id of an enabled model of this media, or a refusal saying why not."""
        return check_model(self.catalog, model_id, media)

    async def set_models(
        self,
        guild_id: int,
        actor_id: int,
        *,
        image_default: str | None,
        video_default: str | None,
        allowed: str | None,
    ) -> Change:
        """Default models ("default": the built-in one) and the allowed list ("all")."""
        if image_default is None and video_default is None and allowed is None:
            raise UserFacingError(
                "Give image_default, video_default or allowed (see /settings show)."
            )
        config = await self.store.guild_config(guild_id)
        values: dict[str, Any] = {}
        defaults: tuple[tuple[str, str | None, Media], ...] = (
            ("default_image_model", image_default, "image"),
            ("default_video_model", video_default, "video"),
        )
        for key, chosen, media in defaults:
            if chosen is not None:
                reset = chosen.strip().lower() in RESET_KEYWORDS
                values[key] = None if reset else self.check_model(chosen, media)
        if allowed is not None:
            ids = split_ids(allowed)
            if not ids or (len(ids) == 1 and ids[0].lower() in ALL_KEYWORDS):
                ids = []
            unknown = [i for i in ids if not self.enabled(i)]
            if unknown:
                raise UserFacingError(
                    "Unknown model(s): {models}. See /models for the ids.",
                    models=", ".join(f"`{u}`" for u in unknown),
                )
            values["allowed_models"] = frozenset(ids)
        allowed_now: frozenset[str] = values.get("allowed_models", config.allowed_models)
        for key, _, _ in defaults:
            chosen = values.get(key, getattr(config, key))
            if allowed_now and chosen and chosen not in allowed_now:
                raise UserFacingError(
                    "The default model `{model}` is not in the allowed list; allow it or "
                    "choose another default.",
                    model=chosen,
                )
        updated = await self.store.update_guild_config(guild_id, **values)
        summary = "; ".join(
            f"{key.replace('_', ' ')}: "
            + (", ".join(sorted(v)) or "all" if isinstance(v, frozenset) else (v or "built-in"))
            for key, v in values.items()
        )
        return await self.changed(
            guild_id, actor_id, "settings.models", updated, lambda _: summary, None
        )
