"""Banned words: evasion attempts are caught, innocent text is not, and no prompt or
pattern can make the check slow (it runs on the event loop)."""

from __future__ import annotations

import time

import pytest

from bot.domain.errors import UserFacingError
from bot.domain.word_filter import MAX_PATTERNS, check_pattern, find_banned, inactive, normalise

WORDS = ["badword", "naughty cat", "/sp[i1]cy\\s*stuff/", "boob"]


@pytest.mark.parametrize(
    "prompt",
    [
        "a BADWORD here",
        "ｂａｄｗｏｒｄ in full width",
        "bad\u200bword with a zero-width space",
        "bad\u2060word with a word joiner",
        "b4dw0rd with digits",
        "b@dword with a symbol",
        "b a d w o r d spaced",
        "b.a.d.w.o.r.d dotted",
        "b-a-d-w-o-r-d dashed",
        "bàdwörd with accents",
        "BaDwOrD!",
        "a NAUGHTY   cat",
        "naughty\ncat",
        "spicy   stuff",
        "sp1cy stuff",
        "b00b",
    ],
)
def test_evasions_are_caught(prompt: str) -> None:
    assert find_banned(prompt, WORDS) is not None


@pytest.mark.parametrize(
    "prompt",
    ["a class act", "the badwords list", "notbadword", "year 2024 in 4k", "a nice cat", "bad word"],
)
def test_innocent_prompts_pass(prompt: str) -> None:
    assert find_banned(prompt, WORDS) is None


def test_broken_or_empty_entries_are_ignored() -> None:
    assert find_banned("anything", ["", "   ", "/[unclosed/"]) is None


def test_normalise_keeps_numbers_that_are_numbers() -> None:
    assert normalise("2024: $tuff h!t, bad!") == "2024 stuff hit bad"


# -- the check stays fast ------------------------------------------------------------------
#
# Each hostile prompt below backtracks for longer than the age of the universe on a
# backtracking engine (Python's re); RE2 answers in milliseconds. The timeout turns
# such a hang into a failure; the time bound is deliberately generous.

MAX_PROMPT = 6000  # Discord's longest string option


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("pattern", "hostile", "hit"),
    [
        ("/(a+)+b/", "a" * MAX_PROMPT, "aaab"),
        ("/(\\w+\\s?)+spam$/", ("word " * MAX_PROMPT)[: MAX_PROMPT - 3] + "spa", "more spam"),
        ("/(x+x+)+y/", "x" * MAX_PROMPT, "xxy"),
    ],
)
def test_backtracking_patterns_check_a_hostile_prompt_quickly(
    pattern: str, hostile: str, hit: str
) -> None:
    check_pattern(pattern)  # a moderator may add it: it is harmless on a linear engine
    started = time.perf_counter()
    assert find_banned(hostile, [pattern]) is None
    assert time.perf_counter() - started < 2.0
    assert find_banned(hit, [pattern]) == pattern


@pytest.mark.timeout(10)
def test_normalising_is_linear_far_past_the_longest_prompt() -> None:
    """Single letters that never end a word ("a_ a_ …") made the spaced-letters rule
    rescan the rest of the text from every letter."""
    assert normalise("a_ " * 30_000) == "a" * 30_000


@pytest.mark.timeout(10)
def test_the_longest_list_against_the_longest_prompt_is_quick() -> None:
    words = [f"{'a' * 90}{i:03d}x" for i in range(500 - MAX_PATTERNS)]
    patterns = [f"/(a|aa)+{i}z/" for i in range(MAX_PATTERNS)]
    started = time.perf_counter()
    for prompt in ("a" * MAX_PROMPT, "a_ " * (MAX_PROMPT // 3), "\ufdfa" * MAX_PROMPT):
        assert find_banned(prompt, [*words, *patterns]) is None
    assert time.perf_counter() - started < 5.0


# -- patterns a moderator adds ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("/(?<=a)b/", "invalid perl operator"),
        ("/(a)\\1/", "invalid escape sequence"),
        ("/([/", "missing"),
    ],
)
def test_a_pattern_the_engine_cannot_run_is_refused_with_what_to_do(pattern: str, why: str) -> None:
    with pytest.raises(UserFacingError) as refused:
        check_pattern(pattern)
    assert refused.value.template.startswith("I can't use the pattern {entry} ({error}).")
    assert "rewrite it without them, or add plain words" in refused.value.message
    assert f"`{pattern}`" in refused.value.message and why in refused.value.message


@pytest.mark.parametrize("pattern", ["/(.{0,100}x){10}/", "/\\pL{0,999}z/"])
def test_a_pattern_too_big_to_check_quickly_is_refused(pattern: str) -> None:
    with pytest.raises(UserFacingError, match="too complex to check quickly"):
        check_pattern(pattern)


@pytest.mark.parametrize("entry", ["/sp[i1]cy\\s*stuff/", "/\\pL+ bad/", "plain words", "(a)\\1"])
def test_ordinary_patterns_and_words_are_accepted(entry: str) -> None:
    check_pattern(entry)


def test_stored_entries_that_no_longer_work_are_skipped_and_listed() -> None:
    """Saved before patterns ran on RE2: skipped, never a crash; the rest still apply."""
    old = ["/(?<=a)b/", "/(a)\\1/", "/(.{0,100}x){10}/"]
    assert find_banned("ab aa x", [*old, "badword"]) is None
    assert find_banned("a badword", [*old, "badword"]) == "badword"
    assert inactive([*old, "badword"]) == old


def test_only_the_first_patterns_are_checked() -> None:
    patterns = [f"/^item {i}$/" for i in range(MAX_PATTERNS + 5)]
    last = MAX_PATTERNS - 1
    assert find_banned(f"Item {last}", patterns) == f"/^item {last}$/"
    assert find_banned(f"item {MAX_PATTERNS}", patterns) is None
    assert inactive([*patterns, "word"]) == patterns[MAX_PATTERNS:]
