"""A channel's defaults and house styles as pure rules: the order of the layers, a default
a model does not take falling through to the next, and what a style makes of a prompt."""

from __future__ import annotations

import pytest

from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.errors import UserFacingError
from bot.domain.guild_config import GuildConfig
from bot.domain.presets import (
    MAX_STYLES,
    check_style,
    clean_text,
    find_style,
    option_defaults,
    preferred_models,
    styled_prompt,
)

HERE, ELSEWHERE = 10, 11


def config(**values: object) -> GuildConfig:
    base: dict[str, object] = {
        "guild_id": 1,
        "default_image_model": "nano-banana-2",
        "defaults": {"ratio": "1:1"},
        "channel_defaults": {HERE: {"image_model": "seedream-4.5", "ratio": "21:9"}},
    }
    return GuildConfig(**{**base, **values})  # type: ignore[arg-type]


def test_the_channels_model_comes_before_the_servers_only_in_that_channel() -> None:
    assert preferred_models(config(), HERE, ("image",)) == ["seedream-4.5", "nano-banana-2"]
    assert preferred_models(config(), ELSEWHERE, ("image",)) == ["nano-banana-2"]
    assert preferred_models(config(), HERE, ("video",)) == []
    # The member's preference (none exists yet) would come first.
    member = {"image_model": "gpt-image-2/text-to-image"}
    assert preferred_models(config(), HERE, ("image",), member)[0] == "gpt-image-2/text-to-image"


def test_a_paused_or_no_longer_allowed_channel_model_is_passed_over() -> None:
    paused = config(paused_models={"seedream-4.5": "too dear"})
    assert preferred_models(paused, HERE, ("image",)) == ["nano-banana-2"]
    narrowed = config(allowed_models=frozenset({"nano-banana-2"}))
    assert preferred_models(narrowed, HERE, ("image",)) == ["nano-banana-2"]


def test_option_defaults_list_every_layer_strongest_first() -> None:
    assert option_defaults(config(), HERE) == {"ratio": ("21:9", "1:1")}
    assert option_defaults(config(), ELSEWHERE) == {"ratio": ("1:1",)}
    same = config(channel_defaults={HERE: {"ratio": "1:1", "resolution": "2k"}})
    assert option_defaults(same, HERE) == {"ratio": ("1:1",), "resolution": ("2k",)}


@pytest.mark.parametrize(
    ("model", "options", "ratio"),
    [
        ("seedream-4.5", {}, "21:9"),  # the channel's
        ("nano-banana-2", {}, "1:1"),  # takes no 21:9: the server's
        ("veo3", {}, None),  # takes neither: Max API's own
        ("seedream-4.5", {"ratio": "16:9"}, "16:9"),  # what the command says
    ],
)
def test_a_default_the_model_does_not_take_falls_through(
    catalog: Catalog, model: str, options: dict[str, str], ratio: str | None
) -> None:
    request = GenerationRequest(
        model, "a fox", options, guild_defaults=option_defaults(config(), HERE)
    )
    assert catalog.prepare(request).input.get("ratio") == ratio


# -- a member's preferences (/prefer) ----------------------------------------------------------

MINE = {"image_model": "jimeng-4.5", "ratio": "3:4", "notify": "dm"}


def test_the_members_preference_comes_first_and_notify_is_not_an_option() -> None:
    assert preferred_models(config(), HERE, ("image",), MINE) == [
        "jimeng-4.5",
        "seedream-4.5",
        "nano-banana-2",
    ]
    assert option_defaults(config(), HERE, MINE) == {"ratio": ("3:4", "21:9", "1:1")}
    paused = config(paused_models={"jimeng-4.5": "too dear"})
    assert preferred_models(paused, ELSEWHERE, ("image",), MINE) == ["nano-banana-2"]


@pytest.mark.parametrize(
    ("model", "options", "ratio"),
    [
        ("seedream-4.5", {}, "3:4"),  # the member's
        ("nano-banana", {}, None),  # takes neither 3:4, 21:9 nor 1:1: Max API's own
        ("grok-imagine/text-to-image-pro", {}, "1:1"),  # not 3:4 nor 21:9: the server's
        ("seedream-4.5", {"ratio": "16:9"}, "16:9"),  # what the command says
    ],
)
def test_a_preference_the_model_does_not_take_falls_through(
    catalog: Catalog, model: str, options: dict[str, str], ratio: str | None
) -> None:
    defaults = option_defaults(config(), HERE, {"ratio": "3:4"})
    request = GenerationRequest(model, "a fox", options, guild_defaults=defaults)
    assert catalog.prepare(request).input.get("ratio") == ratio


# -- house styles ---------------------------------------------------------------------------


def test_a_style_is_one_clean_line_within_the_limits() -> None:
    assert check_style({}, "  Water  colour ", "soft light,\n\tpaper  grain") == (
        "Water colour",
        "soft light, paper grain",
    )
    with pytest.raises(UserFacingError, match="name has 1 to 32"):
        check_style({}, "x" * 33, "text")
    with pytest.raises(UserFacingError, match="text has 1 to 300"):
        check_style({}, "ok", "   ")
    with pytest.raises(UserFacingError, match="control characters"):
        clean_text("soft\x00light")
    with pytest.raises(UserFacingError, match="control characters"):
        clean_text("half an emoji \ud83d")


def test_a_full_list_refuses_a_new_style_but_not_a_changed_one() -> None:
    full = {f"s{i}": "text" for i in range(MAX_STYLES)}
    with pytest.raises(UserFacingError, match=f"has {MAX_STYLES} styles"):
        check_style(full, "one more", "text")
    assert check_style(full, "S3", "new text") == ("S3", "new text")


def test_a_style_is_found_without_case_and_appended_to_the_prompt() -> None:
    styles = {"Noir": "black and white, hard shadows", "Clean": "avoid text and logos"}
    assert find_style(styles, "  noir ") == ("Noir", "black and white, hard shadows")
    with pytest.raises(UserFacingError, match="no style called “sepia”"):
        find_style(styles, "sepia")
    assert styled_prompt("a fox, ", "avoid text and logos") == "a fox, avoid text and logos"
    assert styled_prompt("   ", "avoid text") == "   "  # still refused as empty
