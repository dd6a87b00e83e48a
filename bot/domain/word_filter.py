"""A guild's banned word / pattern list, checked on normalised prompts. Pure logic.

Normalisation defeats the usual evasions before matching: case (casefold),
full-width and other compatibility forms (NFKC), zero-width and other invisible
characters, simple character swaps (``b4dw0rd``), accents (``bàd``), and letters spaced
or dotted apart (``b a d``, ``b.a.d``). Words match on word boundaries, so a banned
"ass" does not block "class"; an entry written as ``/regex/`` is a pattern matched
against the normalised text, for moderators who need more.

Every step is linear in the prompt's length: a prompt is checked on the event loop, so
no member's text and no moderator's pattern may make it slow. Patterns therefore run
on RE2 (no backtracking; no lookaround or backreferences), with a size cap, and at
most :data:`MAX_PATTERNS` of them are checked.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable
from typing import Any, NamedTuple

import re2

from bot.domain.errors import UserFacingError

INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]"
)
LOOKALIKES = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"}
SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "l", "+": "t"}
# A digit counts as a letter next to a letter (b4d), a symbol before one ($tuff, h!t):
# "2024" and "bad!" keep their meaning.
DIGIT_IN_WORD = re.compile(r"(?<=[^\W\d_])[013457]|[013457](?=[^\W\d_])")
SYMBOL_IN_WORD = re.compile(r"[@$!|+](?=[^\W\d_])")
SEPARATOR = re.compile(r"[\W_]+")

#: RE2 instructions one pattern may compile to; larger ones are refused as too complex.
MAX_PATTERN_SIZE = 2000
#: ``/regex/`` entries checked per server (words cost next to nothing; patterns more).
MAX_PATTERNS = 50


def _re2_options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.never_capture = True  # a yes/no answer: no submatch pass over the text
    options.log_errors = False  # a moderator's typo is not an error in the bot's log
    options.max_mem = 1 << 20
    return options


RE2_OPTIONS = _re2_options()


def normalise(text: str) -> str:
    """The form both prompts and banned words are compared in: words of letters and
    digits, separated by single spaces."""
    text = INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    text = text.casefold()
    for _ in range(2):  # twice, so "b00" sees its second digit next to a swapped letter
        text = DIGIT_IN_WORD.sub(lambda m: LOOKALIKES[m.group(0)], text)
    text = SYMBOL_IN_WORD.sub(lambda m: SYMBOLS[m.group(0)], text)
    words: list[str] = []
    # Three or more single letters in a row were spaced apart: "b a d", "b.a.d" → "bad".
    for single, run in itertools.groupby(SEPARATOR.sub(" ", text).split(), key=is_letter):
        letters = list(run)
        words.extend(["".join(letters)] if single and len(letters) >= 3 else letters)
    return " ".join(words)


def is_letter(word: str) -> bool:
    return len(word) == 1 and not word.isdecimal()


def is_pattern(entry: str) -> bool:
    entry = entry.strip()
    return len(entry) > 2 and entry.startswith("/") and entry.endswith("/")


class Rule(NamedTuple):
    """One usable list entry: a normalised phrase, or a compiled RE2 pattern."""

    entry: str
    phrase: str | None
    pattern: Any | None

    def hits(self, text: str, padded: str) -> bool:
        """Whether the normalised prompt (``text``; ``padded`` with a space each side) hits."""
        if self.pattern is not None:
            return self.pattern.search(text) is not None
        # Words are separated by single spaces in both, so this is a match on word edges.
        return f" {self.phrase} " in padded


def compile_pattern(entry: str) -> Any:
    """The RE2 program for a ``/regex/`` entry; raises :class:`re2.error` when RE2 can't
    compile it."""
    return re2.compile(entry.strip()[1:-1], RE2_OPTIONS)


def too_complex(pattern: Any) -> bool:
    """Over :data:`MAX_PATTERN_SIZE`: checking it could take a noticeable while."""
    return max(pattern.programsize, pattern.reverseprogramsize) > MAX_PATTERN_SIZE


def compile_entry(entry: str) -> Rule | None:
    """A rule for one list entry, or ``None`` for an empty or unusable one."""
    if is_pattern(entry):
        try:
            pattern = compile_pattern(entry)
        except re2.error:
            return None
        return None if too_complex(pattern) else Rule(entry, None, pattern)
    phrase = normalise(entry)
    return Rule(entry, phrase, None) if phrase else None


def check_pattern(entry: str) -> None:
    """Refuse a ``/regex/`` entry a moderator adds that could not be checked quickly,
    with a sentence saying why and what to do; words pass."""
    if not is_pattern(entry):
        return
    shown = f"`{entry.strip()[:100]}`"
    try:
        pattern = compile_pattern(entry)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else b"invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        if "too large" not in str(reason):
            raise UserFacingError(
                "I can't use the pattern {entry} ({error}). Patterns can't use lookaround "
                "like (?=…) or backreferences like \\1, so that checking prompts stays "
                "fast: rewrite it without them, or add plain words instead.",
                entry=shown,
                error=str(reason)[:100],
            ) from None
        pattern = None
    if pattern is None or too_complex(pattern):
        raise UserFacingError(
            "The pattern {entry} is too complex to check quickly: use fewer or smaller "
            "repeat counts, or plain words.",
            entry=shown,
        )


@functools.lru_cache(maxsize=128)
def rules(entries: tuple[str, ...]) -> tuple[Rule, ...]:
    """The entries that are checked: usable words, and the first :data:`MAX_PATTERNS`
    usable patterns (an entry stored under older rules may no longer be usable)."""
    kept: list[Rule] = []
    patterns = 0
    for rule in map(compile_entry, entries):
        if rule is None:
            continue
        if rule.pattern is not None:
            patterns += 1
            if patterns > MAX_PATTERNS:
                continue
        kept.append(rule)
    return tuple(kept)


def inactive(entries: Iterable[str]) -> list[str]:
    """The entries of a list that are not checked (for the moderators' listing)."""
    entries = tuple(entries)
    active = {rule.entry for rule in rules(entries)}
    return [entry for entry in entries if entry not in active]


def find_banned(prompt: str, entries: Iterable[str]) -> str | None:
    """The first entry the prompt hits, or ``None``."""
    entries = tuple(entries)
    if not entries:
        return None  # most servers ban nothing: skip normalising the prompt
    text = normalise(prompt)
    padded = f" {text} "
    for rule in rules(entries):
        if rule.hits(text, padded):
            return rule.entry
    return None
