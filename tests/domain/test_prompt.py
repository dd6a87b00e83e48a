"""The prompt check every job passes before anything is stored or sent."""

from __future__ import annotations

import json

import pytest

from bot.domain.catalog import ValidationError
from bot.domain.presets import styled_prompt
from bot.domain.prompt import (
    BROKEN,
    CONTROL,
    EMPTY,
    INVISIBLE_ONLY,
    broken_character,
    is_invisible,
    normalize_prompt,
)


@pytest.mark.parametrize(
    "prompt",
    ["\ud800", "a cat \udfff", "\udc00\ud83d", "😀"[0] + "\ud83d"],
    ids=["high", "low", "reversed-pair", "half-an-emoji"],
)
def test_an_unpaired_surrogate_is_refused(prompt: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_prompt(prompt)
    assert info.value.template == BROKEN


def test_a_real_pair_is_not_broken() -> None:
    assert broken_character("a 😀 b") is None
    assert normalize_prompt("a 😀 b") == "a 😀 b"


@pytest.mark.parametrize(
    ("prompt", "code"), [("a\x00b", "0000"), ("\x1b[31mred", "001B"), ("x\x7f", "007F")]
)
def test_a_control_character_is_refused_and_named(prompt: str, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_prompt(prompt)
    assert info.value.template == CONTROL
    assert info.value.fields == {"code": code}
    assert f"U+{code}" in str(info.value)


@pytest.mark.parametrize(
    "prompt",
    [
        "\u200b",
        "\u200b\u200c\u200d",
        "\ufeff\u2060",
        "\ufe0f\ufe0e",
        "\U000e0100",
        " \u200b\t\u3000\n\u00ad ",
        "\u3164\u2800",
    ],
)
def test_a_prompt_with_nothing_visible_is_refused(prompt: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_prompt(prompt)
    assert info.value.template == INVISIBLE_ONLY


@pytest.mark.parametrize("prompt", ["", "   ", "\t\n"])
def test_a_blank_prompt_keeps_the_plain_empty_sentence(prompt: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_prompt(prompt)
    assert info.value.template == EMPTY


@pytest.mark.parametrize(
    ("prompt", "stored"),
    [
        ("  a cat  ", "a cat"),
        ("\u200b\ufeffa cat\u2060\u200b", "a cat"),
        ("\u200b \u200b a", "a"),
        ("a\tb", "a b"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("❤\ufe0f", "❤\ufe0f"),  # the selector is part of the emoji
        ("👩\u200d🎨 paints", "👩\u200d🎨 paints"),  # so is the joiner
        ("می\u200cخواهم", "می\u200cخواهم"),  # Persian needs its non-joiner
        ("黄昏的灯塔", "黄昏的灯塔"),
    ],
)
def test_a_good_prompt_is_kept_with_only_its_outer_blanks_trimmed(prompt: str, stored: str) -> None:
    assert normalize_prompt(prompt) == stored


def test_a_normalised_prompt_can_be_stored_and_sent() -> None:
    text = normalize_prompt("\u200b a \u200d\ufe0f 😀 \t b ")
    text.encode("utf-8")
    json.dumps(text, ensure_ascii=False).encode()
    assert normalize_prompt(text) == text  # idempotent: admission applies it twice


def test_invisible_characters() -> None:
    assert all(is_invisible(c) for c in "\u200b\u200c\u200d\u2060\ufeff\ufe0f \u3000")
    assert not any(is_invisible(c) for c in "a字😀.")


def test_a_house_style_does_not_fill_an_invisible_prompt() -> None:
    with pytest.raises(ValidationError) as info:
        normalize_prompt(styled_prompt("\u200b\u2060", "avoid text in the image"))
    assert info.value.template == INVISIBLE_ONLY
    assert normalize_prompt(styled_prompt("a cat", "avoid text")) == "a cat, avoid text"
