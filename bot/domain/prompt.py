"""Prompts made safe to store and send: the one check every prompt passes first.

A prompt holding a broken character (an unpaired surrogate, half of an emoji) or a
control character is refused, never silently changed: the member sees what to fix. A
prompt that is empty once invisible characters are set aside is refused too. Inside a
prompt, invisible joiners and selectors stay (emoji and some scripts need them); only
outer whitespace and zero-width spaces are trimmed, line breaks become ``\\n`` and tabs spaces.
"""

from __future__ import annotations

import unicodedata

from bot.domain.catalog_types import ValidationError

BROKEN = "Your prompt holds a broken character (such as half of an emoji). Retype it and try again."
CONTROL = (
    "Your prompt holds a control character (U+{code}), which is not text. Remove it and try again."
)
EMPTY = "The prompt is empty: describe what you want to see."
INVISIBLE_ONLY = (
    "Your prompt is empty once invisible characters are removed: describe what you want to see."
)

#: Characters that show nothing on their own: zero-width spaces and joiners, the BOM,
#: the word joiner, invisible operators, bidi marks, fillers and variation selectors.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul fillers
    (0x180B, 0x180F),  # Mongolian selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, non-joiner, joiner; LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates
    (0x2800, 0x2800),  # braille blank
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # byte order mark, zero-width no-break space
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0x1D173, 0x1D17A),  # musical formatting
    (0xE0000, 0xE007F),  # tags
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
#: Trimmed from both ends of a prompt (they never belong to the characters beside them).
_EDGE_JUNK = "\u200b\u2060\ufeff"


def is_invisible(char: str) -> bool:
    """Whether ``char`` is whitespace or shows nothing by itself."""
    if char.isspace():
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


def broken_character(text: str) -> str | None:
    """The first unpaired surrogate in ``text``, if any (it cannot be stored or sent)."""
    for char in text:
        if 0xD800 <= ord(char) <= 0xDFFF:
            return char
    return None


def control_character(text: str) -> str | None:
    """The first control character other than tab, line feed and carriage return."""
    for char in text:
        if char not in "\t\n\r" and unicodedata.category(char) == "Cc":
            return char
    return None


def normalize_prompt(text: str) -> str:
    """The prompt as it is stored and sent; raises ValidationError (one sentence) for a
    broken or control character, or for a prompt with nothing visible in it."""
    if broken_character(text) is not None:
        raise ValidationError(BROKEN)
    control = control_character(text)
    if control is not None:
        raise ValidationError(CONTROL, code=f"{ord(control):04X}")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if not text.strip():
        raise ValidationError(EMPTY)
    if all(is_invisible(char) for char in text):
        raise ValidationError(INVISIBLE_ONLY)
    # Variation selectors and joiners at the ends may belong to an emoji: they stay.
    edges = _EDGE_JUNK + "".join(c for c in set(text) if c.isspace())
    return text.strip(edges)
