"""``/prefer show``: a member's preferences in one server, in their language; a model the
server no longer offers is marked (its jobs use the server's default instead)."""

from __future__ import annotations

from collections.abc import Mapping

from bot.domain.catalog import Catalog
from bot.domain.guild_config import GuildConfig
from bot.text.i18n import t

LABELS = {
    "image_model": "Image model",
    "video_model": "Video model",
    "ratio": "Ratio",
    "resolution": "Resolution",
}


def _model_note(config: GuildConfig, catalog: Catalog, model_id: str, locale: str | None) -> str:
    """`` (paused here: …)`` when the server or the catalogue no longer offers it."""
    if model_id not in {m.id for m in catalog.enabled()}:
        return t(locale, " (no longer available: the server's default is used)")
    if model_id in config.paused_models:
        return t(locale, " (paused here: the server's default is used)")
    if not config.model_allowed(model_id):
        return t(locale, " (not allowed here: the server's default is used)")
    return ""


def prefs_lines(
    prefs: Mapping[str, str],
    config: GuildConfig,
    dm_closed: bool,
    catalog: Catalog,
    locale: str | None,
) -> list[str]:
    """One line per preference (``dm_closed``: the member's DMs refused the bot), then
    how they combine with what a command says."""
    lines = []
    for key, label in LABELS.items():
        value = prefs.get(key)
        if value is None:
            shown = t(locale, "the server's default")
        elif key.endswith("_model"):
            shown = f"`{value}`" + _model_note(config, catalog, value, locale)
        else:
            shown = value
        lines.append(f"{t(locale, label)}: {shown}")
    if prefs.get("notify") == "dm":
        notify = t(locale, "by DM too, when a job that ran over 2 minutes ends")
        if dm_closed:
            notify += t(
                locale,
                " (your DMs refused Atelier: open them, then /prefer set notify:dm again)",
            )
    else:
        notify = t(locale, "in the channel only")
    lines.append(f"{t(locale, 'Notify')}: {notify}")
    lines.append(
        t(
            locale,
            "What a command says wins; where you set nothing, the channel's and the server's "
            "defaults apply.",
        )
    )
    return lines
