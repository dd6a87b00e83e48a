"""A channel's defaults and a server's house styles, as pure rules: where a command says
nothing, a job takes the member's preference, then the channel's defaults, then the
server's, then Max API's own (:func:`layers` is the one order)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

from bot.domain.catalog_types import Media
from bot.domain.errors import UserFacingError
from bot.domain.guild_config import GuildConfig
from bot.domain.prompt import is_invisible

#: What a channel's defaults may hold: default models, then member options.
MODEL_KEYS = ("image_model", "video_model")
CHANNEL_KEYS = (*MODEL_KEYS, "ratio", "resolution")
MAX_CHANNELS = 50  # channels with their own defaults, per server
STYLE_NAME_MAX = 32
STYLE_TEXT_MAX = 300
MAX_STYLES = 25  # one autocomplete list


def layers(
    config: GuildConfig, channel_id: int | None, member: Mapping[str, str] | None = None
) -> list[Mapping[str, str]]:
    """Every layer of defaults, the strongest first: the member's preference (``member``,
    from ``/prefer``), the channel's, the server's."""
    server: dict[str, str] = dict(config.defaults)
    if config.default_image_model:
        server["image_model"] = config.default_image_model
    if config.default_video_model:
        server["video_model"] = config.default_video_model
    channel = config.channel_defaults.get(channel_id, {}) if channel_id is not None else {}
    mine = {k: v for k, v in (member or {}).items() if k in CHANNEL_KEYS}  # not ``notify``
    return [mine, channel, server]


def preferred_models(
    config: GuildConfig,
    channel_id: int | None,
    media: Sequence[Media],
    member: Mapping[str, str] | None = None,
) -> list[str]:
    """The default models a job that names none tries, in order, each once; a model
    the server no longer allows, or paused, is passed over."""
    found: list[str] = []
    for layer in layers(config, channel_id, member):
        for kind in media:
            chosen = layer.get(f"{kind}_model")
            if chosen and chosen not in found and config.model_offered(chosen):
                found.append(chosen)
    return found


def option_defaults(
    config: GuildConfig, channel_id: int | None, member: Mapping[str, str] | None = None
) -> dict[str, tuple[str, ...]]:
    """Where the command says nothing: for each option (``ratio``, ``resolution``) the
    defaults, the strongest first; the job takes the first its model takes, else Max
    API's own (``bot.domain.options``)."""
    merged: dict[str, tuple[str, ...]] = {}
    for layer in layers(config, channel_id, member):
        for key, value in layer.items():
            if key not in MODEL_KEYS and value and value not in merged.get(key, ()):
                merged[key] = (*merged.get(key, ()), value)
    return merged


# -- house styles ---------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """One line: runs of white space (newlines too) become one space; control characters
    and unpaired surrogates are refused."""
    if any(unicodedata.category(c) in ("Cc", "Cs") and not c.isspace() for c in text):
        raise UserFacingError("Remove the control characters and try again.")
    return " ".join(text.split())


def check_style(styles: Mapping[str, str], name: str, text: str) -> tuple[str, str]:
    """A new style's name and text, cleaned, or a refusal saying what is wrong."""
    name, text = clean_text(name), clean_text(text)
    if not name or len(name) > STYLE_NAME_MAX:
        raise UserFacingError("A style's name has 1 to {n} characters.", n=STYLE_NAME_MAX)
    if not text or len(text) > STYLE_TEXT_MAX:
        raise UserFacingError("A style's text has 1 to {n} characters.", n=STYLE_TEXT_MAX)
    if style_named(styles, name) is None and len(styles) >= MAX_STYLES:
        raise UserFacingError(
            "This server has {n} styles, the most it can hold: remove one first.", n=MAX_STYLES
        )
    return name, text


def style_named(styles: Mapping[str, str], name: str) -> str | None:
    """The stored name of the style called ``name`` (case and spaces aside), if any."""
    wanted = " ".join(name.split()).casefold()
    return next((s for s in styles if s.casefold() == wanted), None)


def find_style(styles: Mapping[str, str], name: str) -> tuple[str, str]:
    """The style a member chose (its name and text), or a refusal."""
    found = style_named(styles, name)
    if found is None:
        raise UserFacingError(
            "This server has no style called “{name}”: pick one from the list, or leave "
            "style empty.",
            name=" ".join(name.split())[: STYLE_NAME_MAX + 10],
        )
    return found, styles[found]


def styled_prompt(prompt: str, text: str) -> str:
    """``prompt, style text``: the prompt as it is sent (an empty prompt stays empty, so
    it is refused as empty)."""
    core = prompt.strip().rstrip(",").rstrip()
    visible = not all(is_invisible(char) for char in core)  # "\u200b" is empty too
    return f"{core}, {text}" if core and visible else prompt
