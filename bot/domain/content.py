"""What results may show in a server: adult option values (Grok's spicy mode)."""

from __future__ import annotations

from typing import Any

from bot.domain.errors import NotAllowed
from bot.domain.guild_config import GuildConfig
from bot.domain.options import PreparedJob


def adult_choices(prepared: PreparedJob) -> list[tuple[str, Any]]:
    """The (option, value) pairs of a checked job that the catalogue marks as adult."""
    return [
        (name, prepared.input[name])
        for name, spec in prepared.model.options.items()
        if name in prepared.input and prepared.input[name] in spec.adult_values
    ]


def refuse_adult(config: GuildConfig, prepared: PreparedJob) -> None:
    """Refuse adult values in every channel of a server that turned them off."""
    if config.adult_allowed:
        return
    found = adult_choices(prepared)
    if found:
        option, value = found[0]
        raise NotAllowed(
            "This server has turned adult content off, so {option} {value} can't be used here.",
            option=option,
            value=value,
        )
