"""``/settings channel`` and ``/settings styles``: a channel's own defaults and the
server's house styles, checked against the catalogue, audited in English and said back in
the moderator's language."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from bot.domain.catalog import OPTION_FIELDS, Media, ValidationError
from bot.domain.errors import UserFacingError
from bot.domain.guild_config import GuildConfig
from bot.domain.presets import (
    CHANNEL_KEYS,
    MAX_CHANNELS,
    MODEL_KEYS,
    check_style,
    layers,
    style_named,
)
from bot.domain.word_filter import find_banned
from bot.services.audit import target_for
from bot.services.guild_settings import (
    RESET_KEYWORDS,
    Change,
    GuildSettingsService,
    check_option,
)
from bot.text.i18n import t

#: How each value of a channel's defaults is named, in a list of them.
LABELS = {
    "image_model": "image model",
    "video_model": "video model",
    "ratio": "ratio",
    "resolution": "resolution",
}


def defaults_text(chosen: Mapping[str, str], locale: str | None) -> str:
    """``image model `seedream-4.5` · ratio 16:9``."""
    parts = []
    for key in CHANNEL_KEYS:
        if value := chosen.get(key):
            shown = f"`{value}`" if key in MODEL_KEYS else value
            parts.append(f"{t(locale, LABELS[key])} {shown}")
    return " · ".join(parts)


def channel_lines(config: GuildConfig, locale: str | None) -> list[str]:
    """``<#channel>: image model `x` · ratio 16:9``, one line per channel with defaults."""
    return [
        f"<#{channel}>: {defaults_text(chosen, locale)}"
        for channel, chosen in sorted(config.channel_defaults.items())
        if chosen
    ]


def _check_usable(config: GuildConfig, model_id: str) -> None:
    """A channel's default model must be allowed in the server and not paused."""
    if not config.model_allowed(model_id):
        raise UserFacingError(
            "`{model}` is not in this server's allowed models: allow it first (/settings "
            "show lists them).",
            model=model_id,
        )
    if model_id in config.paused_models:
        raise UserFacingError(
            "`{model}` is paused in this server: resume it first, or choose another model.",
            model=model_id,
        )


def _notes(
    settings: GuildSettingsService, config: GuildConfig, channel_id: int
) -> list[tuple[str, str, str]]:
    """(model, option, value) where the model a job here runs by default does not take
    the channel's ratio or resolution."""
    chosen = config.channel_defaults.get(channel_id, {})
    merged: dict[str, str] = {}
    for layer in reversed(layers(config, channel_id)):
        merged.update(layer)
    found: list[tuple[str, str, str]] = []
    media: Media
    for media in ("image", "video"):
        model_id = merged.get(f"{media}_model")
        if not model_id:
            with contextlib.suppress(ValidationError):
                model_id = settings.catalog.default_model(media)
        if not model_id or model_id not in settings.catalog:
            continue
        model = settings.catalog.get(model_id)
        for key in ("ratio", "resolution"):
            value = chosen.get(key)
            spec = model.option(OPTION_FIELDS[key])
            if value and (spec is None or spec.normalise(value) is None):
                found.append((model_id, key, value))
    return found


def _note_text(notes: list[tuple[str, str, str]], locale: str | None) -> str:
    lines = []
    for model, key, value in notes:
        lines.append(
            t(
                locale,
                "`{model}` does not take {option} {value}: its jobs here use the server's "
                "default, or else the model's own.",
                model=model,
                option=t(locale, key),
                value=value,
            )
        )
    return "".join("\n" + line for line in lines)


async def set_channel_defaults(
    settings: GuildSettingsService,
    guild_id: int,
    actor_id: int,
    channel_id: int,
    given: Mapping[str, str | None],
    *,
    clear: bool,
    locale: str | None,
) -> Change:
    """Set some of a channel's defaults (``default`` drops one), or ``clear`` them all."""
    wanted = {k: v.strip() for k, v in given.items() if k in CHANNEL_KEYS and v is not None}
    if clear and wanted:
        raise UserFacingError("Give clear alone, or the values to set, not both.")
    if not clear and not wanted:
        raise UserFacingError("Give image_model, video_model, ratio, resolution or clear.")
    values: dict[str, str | None] = {}
    for key, value in wanted.items():
        if value.lower() in RESET_KEYWORDS:
            values[key] = None
        elif key in MODEL_KEYS:
            media: Media = "image" if key == "image_model" else "video"
            values[key] = settings.check_model(value, media)
        else:
            values[key] = check_option(settings.catalog, key, value)

    def edit(config: GuildConfig) -> dict[str, Any]:
        """Runs in the store's transaction: a refusal here stores nothing."""
        every = dict(config.channel_defaults)
        if clear:
            if not every.pop(channel_id, None):
                raise UserFacingError(
                    "{channel} has no defaults of its own.", channel=f"<#{channel_id}>"
                )
            return {"channel_defaults": every}
        for key in MODEL_KEYS:
            if model_id := values.get(key):
                _check_usable(config, model_id)
        mine = {**every.get(channel_id, {}), **values}
        kept = {k: v for k, v in mine.items() if v}
        if channel_id not in every and kept and len(every) >= MAX_CHANNELS:
            raise UserFacingError(
                "At most {n} channels have their own defaults: clear one first.", n=MAX_CHANNELS
            )
        if kept:
            every[channel_id] = kept
        else:
            every.pop(channel_id, None)
        return {"channel_defaults": every}

    updated = await settings.store.edit_guild_config(guild_id, edit)
    mine = updated.channel_defaults.get(channel_id, {})
    notes = _notes(settings, updated, channel_id)
    channel = f"<#{channel_id}>"

    def summary(loc: str | None) -> str:
        if not mine:
            return t(loc, "{channel} uses the server's defaults again", channel=channel)
        text = t(
            loc, "defaults in {channel}: {values}", channel=channel, values=defaults_text(mine, loc)
        )
        return text + _note_text(notes, loc)

    return await settings.changed(
        guild_id,
        actor_id,
        "settings.channel_defaults",
        updated,
        summary,
        locale,
        target=target_for("channel", channel_id),
        defaults=mine,
    )


# -- house styles ---------------------------------------------------------------------------


async def add_style(
    settings: GuildSettingsService,
    guild_id: int,
    actor_id: int,
    name: str,
    text: str,
    locale: str | None,
) -> Change:
    """Add a house style, or give one of that name a new text."""
    saved: list[str] = []
    replaced: list[bool] = []

    def edit(config: GuildConfig) -> dict[str, Any]:
        clean_name, clean_text = check_style(config.styles, name, text)
        if find_banned(clean_text, config.banned_words) is not None:
            raise UserFacingError(
                "This style contains a word or phrase this server does not allow, so every "
                "prompt with it would be refused."
            )
        styles = dict(config.styles)
        old = style_named(styles, clean_name)
        if old is not None:
            del styles[old]
        styles[clean_name] = clean_text
        saved[:] = [clean_name, clean_text]
        replaced[:] = [old is not None]
        return {"styles": styles}

    updated = await settings.store.edit_guild_config(guild_id, edit)
    style, body = saved

    def summary(loc: str | None) -> str:
        template = (
            "changed style “{name}”: {words}" if replaced[0] else "added style “{name}”: {words}"
        )
        return t(loc, template, name=style, words=body)

    return await settings.changed(
        guild_id,
        actor_id,
        "settings.styles",
        updated,
        summary,
        locale,
        added=style,
        text=body,
    )


async def remove_style(
    settings: GuildSettingsService, guild_id: int, actor_id: int, name: str, locale: str | None
) -> Change:
    """Take a house style off the list."""
    removed: list[str] = []

    def edit(config: GuildConfig) -> dict[str, Any]:
        found = style_named(config.styles, name)
        if found is None:
            raise UserFacingError(
                "This server has no style called “{name}”.", name=" ".join(name.split())[:50]
            )
        removed[:] = [found]
        return {"styles": {k: v for k, v in config.styles.items() if k != found}}

    updated = await settings.store.edit_guild_config(guild_id, edit)
    style = removed[0]
    return await settings.changed(
        guild_id,
        actor_id,
        "settings.styles",
        updated,
        lambda loc: t(loc, "removed style “{name}”", name=style),
        locale,
        removed=style,
    )
