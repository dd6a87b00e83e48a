"""A guild's banned word / pattern list, checked on normalised prompts. Pure logic.

Normalisation defeats the usual evasions before matching: case (casefold),
full-width and other compatibility forms (NFKC), zero-width and other invisible
characters, simple character swaps (``b4dw0rd``), accents (``bàd``), and letters spaced
or dotted apart (``b a d``, ``b.a.d``). Words match on word boundaries, so a banned
"ass" does not block "class"; an entry written as ``/regex/`` is a pattern matched
against the normalised text, for moderators who need more.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]"
)
LOOKALIKES = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"}
SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "l", "+": "t"}
# A digit counts as a letter next to a letter (b4d), a symbol before one ($tuff, h!t):
# "2024" and "bad!" keep their meaning.
DIGIT_IN_WORD = re.compile(r"(?<=[^\W\d_])[013457]|[013457](?=[^\W\d_])")
SYMBOL_IN_WORD = re.compile(r"[@$!|+](?=[^\W\d_])")
# Runs of single letters separated by non-letters: "b a d", "b.a.d", "b-a-d".
SPACED = re.compile(r"\b(?:[^\W\d_][\W_]+){2,}[^\W\d_]\b")
SEPARATOR = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """The form both prompts and banned words are compared in."""
    text = INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    text = text.casefold()
    for _ in range(2):  # twice, so "b00" sees its second digit next to a swapped letter
        text = DIGIT_IN_WORD.sub(lambda m: LOOKALIKES[m.group(0)], text)
    text = SYMBOL_IN_WORD.sub(lambda m: SYMBOLS[m.group(0)], text)
    text = SPACED.sub(lambda m: SEPARATOR.sub("", m.group(0)), text)
    return " ".join(SEPARATOR.sub(" ", text).split())


def compile_entry(entry: str) -> re.Pattern[str] | None:
    """A pattern for one list entry, or ``None`` for an empty or broken one."""
    entry = entry.strip()
    if len(entry) > 2 and entry.startswith("/") and entry.endswith("/"):
        try:
            return re.compile(entry[1:-1], re.IGNORECASE)
        except re.error:
            return None
    words = normalise(entry)
    if not words:
        return None
    return re.compile(rf"(?<!\w){re.escape(words)}(?!\w)")


def find_banned(prompt: str, entries: Iterable[str]) -> str | None:
    """The first entry the prompt hits, or ``None``."""
    entries = tuple(entries)
    if not entries:
        return None  # most servers ban nothing: skip normalising the prompt
    text = normalise(prompt)
    for entry in entries:
        pattern = compile_entry(entry)
        if pattern is not None and pattern.search(text):
            return entry
    return None
