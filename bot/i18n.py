"""Localisation (en-US, zh-CN) for command names, descriptions, options and messages.

The English text is the key: code writes ``t(locale, "Cancelled. You were not
charged.")`` and the table in ``bot/locales/zh-CN.json`` maps that sentence to its
translation, so a missing entry degrades to English instead of failing. Format fields
(``{job_id}``) are filled after translation. :class:`Translator` hands the same table
to discord.py for command names, descriptions and choices.
"""

from __future__ import annotations

import functools
import json
import logging
from importlib import resources
from typing import Any

import discord
from discord import app_commands

log = logging.getLogger(__name__)

SUPPORTED = ("zh-CN",)


@functools.cache
def table(locale: str) -> dict[str, str]:
    """The translations for one locale (empty for English or an unknown locale)."""
    if locale not in SUPPORTED:
        return {}
    text = resources.files("bot").joinpath(f"locales/{locale}.json").read_text("utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def normalise(locale: str | discord.Locale | None) -> str:
    value = str(locale.value if isinstance(locale, discord.Locale) else locale or "en-US")
    return "zh-CN" if value.lower().startswith("zh") else value


def t(locale: str | discord.Locale | None, text: str, **fields: Any) -> str:
    """``text`` in ``locale``, with ``fields`` formatted in."""
    translated = table(normalise(locale)).get(text, text)
    try:
        return translated.format(**fields) if fields else translated
    except (KeyError, IndexError, ValueError):
        log.warning("bad translation for %r in %s", text, locale)
        return text.format(**fields) if fields else text


class Translator(app_commands.Translator):
    """Command names, descriptions and choices for discord.py's command sync."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        return table(normalise(locale)).get(string.message)
