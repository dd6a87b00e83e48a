"""Banned words: evasion attempts are caught, innocent text is not."""

from __future__ import annotations

import pytest

from bot.moderation import find_banned, normalise

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
