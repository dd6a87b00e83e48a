"""Localisation (en-US, zh-CN) for command names, descriptions, options and messages.

The English text is the key: code writes ``t(locale, "Cancelled. You were not
charged.")`` and the table in ``bot/locales/zh-CN.json`` maps that sentence to its
translation, so a missing entry degrades to English instead of failing. Format fields
(``{job_id}``) are filled after translation. :class:`Translator` hands the same table
to discord.py (``bot/translator.py``) for command descriptions, option names and
choices. No discord import here, so domain modules can localise their text.

Some English is written before anybody knows who will read it: a job's
``failure_message`` is stored when the job ends and shown later on the card, and
errors are raised deep in the job service. Those are English templates too, and
:func:`t_stored` finds the template a finished sentence was made from, so
"Max API is busy. Try again in 12 s." is shown in the reader's language although only
the sentence was kept. Errors carry their template and fields (``bot.errors``), so
the error path translates them directly.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import string
from collections.abc import Mapping
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

SUPPORTED = ("zh-CN",)
#: A template needs this much literal text to be matched against a finished sentence.
MIN_LITERAL = 4


@functools.cache
def table(locale: str) -> dict[str, str]:
    """The translations for one locale (empty for English or an unknown locale)."""
    if locale not in SUPPORTED:
        return {}
    text = resources.files("bot").joinpath(f"locales/{locale}.json").read_text("utf-8")
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


def t_stored(locale: Any, text: str) -> str:
    """A finished English sentence in ``locale``: its own entry, else the entry of the
    template it was formatted from, with the fields read back out of it (and
    translated when they are entries themselves). Anything else comes back unchanged,
    including text that was already translated."""
    entries = table(normalise(locale))
    if not entries:
        return text
    exact = entries.get(text)
    if exact is not None:
        return exact
    for template, pattern in _patterns(normalise(locale)):
        found = pattern.fullmatch(text)
        if found is not None:
            return t(locale, template, **t_fields(locale, found.groupdict()))
    return text


def template_fields(template: str) -> list[tuple[str, str, str]]:
    """The ``(name, conversion, format spec)`` of each field in ``template``."""
    return [
        (name, conversion or "", spec or "")
        for _, name, spec, conversion in string.Formatter().parse(template)
        if name is not None
    ]


def template_pattern(template: str) -> re.Pattern[str] | None:
    """A regex matching what ``template`` formats to, one group per field; ``None`` for
    a template that cannot be read back (no fields, a conversion or format spec, an
    unnamed field, or too little literal text to tell it apart)."""
    parts: list[str] = []
    seen: set[str] = set()
    literal = 0
    for text, name, spec, conversion in string.Formatter().parse(template):
        parts.append(re.escape(text))
        literal += len(text)
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            return None
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
    if not seen or literal < MIN_LITERAL:
        return None
    return re.compile("".join(parts), re.DOTALL)


@functools.cache
def _patterns(locale: str) -> list[tuple[str, re.Pattern[str]]]:
    """Every template entry as a pattern, the most literal text first (most specific)."""
    found = []
    for key in table(locale):
        pattern = template_pattern(key)
        if pattern is not None:
            found.append((key, pattern))
    found.sort(key=lambda item: -len(re.sub(r"\{[^}]*\}", "", item[0])))
    return found
