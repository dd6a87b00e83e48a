"""The shared error path's classification (the e2e tests cover the Discord side)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from discord import app_commands
from discord.ext import commands

from bot.discord_io.ui import CUSTOM_ID, broken_option, custom_id, describe_error, running_cog
from bot.domain.catalog import ValidationError
from bot.domain.errors import LimitReached, NotAllowed, UserFacingError


@pytest.mark.parametrize(
    ("error", "title", "text"),
    [
        (UserFacingError("Pick another model."), "Can't do that", "Pick another model."),
        (NotAllowed("Only the owner can delete this."), "Not allowed", "Only the owner"),
        (LimitReached("5 images a day; resets at 00:00 UTC."), "Limit reached", "resets"),
        (ValidationError("veo3_lite has no 4k"), "Can't do that", "veo3_lite has no 4k"),
        (app_commands.CheckFailure(), "Not allowed", "rights"),
    ],
)
def test_known_errors_become_a_title_and_a_sentence(
    error: Exception, title: str, text: str
) -> None:
    described = describe_error(error)
    assert described is not None
    assert described[0] == title and text in described[1]


def test_wrapped_errors_are_unwrapped_and_bugs_are_not_described() -> None:
    wrapped = app_commands.CommandInvokeError.__new__(app_commands.CommandInvokeError)
    wrapped.__cause__ = NotAllowed("no")
    assert describe_error(wrapped) == ("Not allowed", "no")
    assert describe_error(RuntimeError("boom")) is None
    assert describe_error(KeyError("x")) is None


def test_a_surrogate_reaching_an_encoder_is_a_sentence_not_a_bug() -> None:
    try:
        "half \ud800".encode()
    except UnicodeEncodeError as exc:
        error = exc
    described = describe_error(error, "zh-CN")
    assert described is not None and "残缺的字符" in described[1]
    assert describe_error(UnicodeEncodeError("ascii", "é", 0, 1, "no ascii")) is None


def test_a_broken_option_is_found_in_subcommands() -> None:
    data = {"options": [{"name": "add", "options": [{"name": "text", "value": "a\udfffb"}]}]}
    assert broken_option(data) == "text"
    assert broken_option({"options": [{"name": "text", "value": "a 👩\u200d🎨"}]}) is None
    assert broken_option({}) is None


def test_custom_ids_round_trip_and_stay_short() -> None:
    value = custom_id("reroll", 123456789012)
    match = CUSTOM_ID.fullmatch(value)
    assert match is not None
    assert match["action"] == "reroll" and match["job_id"] == "123456789012"
    assert len(custom_id("animate", 10**18)) <= 100
    with pytest.raises(ValueError):
        custom_id("explode", 1)


def test_an_option_value_a_client_would_not_send_gets_a_clear_answer() -> None:
    error = app_commands.TransformerError.__new__(app_commands.TransformerError)
    described = describe_error(error)
    assert described is not None and "does not accept" in described[1]


class Pages(commands.Cog):
    pass


def test_a_click_before_its_cog_is_loaded_is_told_to_try_again() -> None:
    """Persistent buttons answer from the first event; their cog may load a moment later."""
    loaded: dict[str, commands.Cog] = {}
    interaction: Any = SimpleNamespace(client=SimpleNamespace(get_cog=loaded.get))
    with pytest.raises(UserFacingError, match="starting up"):
        running_cog(interaction, Pages)
    loaded["Pages"] = cog = Pages()
    assert running_cog(interaction, Pages) is cog
