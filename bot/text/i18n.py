"""Localisation (en-US, zh-CN). Code holds English templates; what is kept for later (a
job's failure, an error) keeps the template and its fields, and :func:`t` translates at the
edge, where the reader's locale is known. A missing ``locales/zh-CN.json`` entry shows English."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

SUPPORTED = ("zh-CN",)


@functools.cache
def table(locale: str) -> dict[str, str]:
    """The translations for one locale (empty for English or an unknown locale)."""
    if locale not in SUPPORTED:
        return {}
    text = resources.files("bot.text").joinpath(f"locales/{locale}.json").read_text("utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def translations() -> dict[str, dict[str, str]]:
    """Every table, by locale (part of the command-sync digest)."""
    return {locale: table(locale) for locale in SUPPORTED}


def normalise(locale: Any) -> str:
    # A discord.Locale is an enum whose value is the tag; plain strings pass through.
    value = str(getattr(locale, "value", locale) or "en-US")
    return "zh-CN" if value.lower().startswith("zh") else value


def t(locale: Any, text: str, **fields: Any) -> str:
    """``text`` in ``locale``, with ``fields`` formatted in."""
    translated = table(normalise(locale)).get(text, text)
    try:
        return translated.format(**fields) if fields else translated
    except (KeyError, IndexError, ValueError):
        log.warning("bad translation for %r in %s", text, locale)
        return text.format(**fields) if fields else text


def t_fields(locale: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with every text value that is itself an entry translated (an option
    name, ``image``/``video``, a state); numbers, ids and anything else unchanged."""
    entries = table(normalise(locale))
    return {k: entries.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
