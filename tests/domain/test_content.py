"""Adult option values as the catalogue marks them, and the server's switch."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.content import adult_choices, refuse_adult
from bot.domain.errors import NotAllowed
from bot.domain.guild_config import GuildConfig

GROK = "grok-imagine/text-to-video"


def prepared(mode: str):  # type: ignore[no-untyped-def]
    request = GenerationRequest(GROK, "a dance", {"mode": mode}, nsfw_channel=True)
    return Catalog.load().prepare(request)


def test_only_the_values_the_catalogue_marks_are_adult() -> None:
    assert adult_choices(prepared("spicy")) == [("mode", "spicy")]
    assert adult_choices(prepared("normal")) == []


def test_a_server_with_adult_content_off_refuses_them() -> None:
    on = GuildConfig(guild_id=1)
    off = dataclasses.replace(on, adult_allowed=False)
    refuse_adult(on, prepared("spicy"))
    refuse_adult(off, prepared("normal"))
    with pytest.raises(NotAllowed) as refused:
        refuse_adult(off, prepared("spicy"))
    assert refused.value.fields == {"option": "mode", "value": "spicy"}
