"""``/imagine``, ``/video`` and one command per model family, on one code path.

Built from the catalogue at load time; every one of them ends in :meth:`Generate.run`."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.command_specs import (
    Choice,
    CommandOption,
    CommandSpec,
    Source,
    command_specs,
    effective_model,
    model_choices,
    model_for_values,
    resolve_model,
    style_choices,
    value_choices,
)
from bot.discord_io.launch import is_nsfw, launch
from bot.discord_io.link_refresh import api_hosts
from bot.discord_io.ui import locale_of
from bot.domain.catalog import OPTION_FIELDS, GenerationRequest, Media, ValidationError
from bot.domain.errors import NotAllowed, UserFacingError
from bot.domain.media import Kind
from bot.domain.presets import find_style, preferred_models, styled_prompt
from bot.services.attachment_probe import check_bytes, check_media_bytes
from bot.services.attachments import AttachmentInfo, check_inputs
from bot.services.model_switch import skip_paused
from bot.text.i18n import t

#: Video and audio references go to Max API after the images, in this order.
MEDIA_KINDS: tuple[Kind, ...] = ("video", "audio")
ANNOTATIONS: dict[str, Any] = {"string": str, "integer": int, "attachment": discord.Attachment}

Handler = Callable[[discord.Interaction, CommandSpec, dict[str, Any]], Awaitable[None]]
Completer = Callable[..., Awaitable[list[app_commands.Choice[Any]]]]


# -- building the commands -------------------------------------------------------------


def _annotation(option: CommandOption) -> Any:
    if (
        option.kind == "integer"
        and not option.choices
        and (option.min_value is not None or option.max_value is not None)
    ):
        return app_commands.Range[int, option.min_value, option.max_value]
    if option.kind == "string" and option.max_length and not option.choices:
        return app_commands.Range[str, 1, option.max_length]
    return ANNOTATIONS[option.kind]


def build_command(
    spec: CommandSpec,
    handler: Handler,
    autocompleters: Mapping[str, Completer],
) -> app_commands.Command[Any, ..., None]:
    """A slash command whose options follow ``spec`` and whose body is ``handler``."""

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await handler(interaction, spec, values)

    params = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for option in spec.options:
        params.append(
            inspect.Parameter(
                option.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(option),
                default=inspect.Parameter.empty if option.required else None,
            )
        )
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    app_commands.describe(**{o.name: _text(o.description, o.source) for o in spec.options})(
        callback
    )
    if choices := {o.name: _choices(o.choices) for o in spec.options if o.choices}:
        app_commands.choices(**choices)(callback)
    wanted: dict[str, Any] = {
        o.name: autocompleters[o.name] for o in spec.options if o.autocomplete
    }
    if wanted:
        app_commands.autocomplete(**wanted)(callback)
    app_commands.guild_only()(callback)
    return app_commands.Command(
        name=spec.name, description=_text(spec.description, spec.source), callback=callback
    )


def _info(attachment: discord.Attachment) -> AttachmentInfo:
    return AttachmentInfo(
        attachment.filename, attachment.size, attachment.url, attachment.content_type
    )


def _choices(choices: Iterable[Choice]) -> list[app_commands.Choice[Any]]:
    return [app_commands.Choice(name=c.name, value=c.value) for c in choices]


def _text(text: str, source: Source | None) -> str | app_commands.locale_str:
    """A description, with the template and fields it was made from for the translator."""
    if source is None:
        return text
    return app_commands.locale_str(text, template=source[0], fields=source[1])


class Generate(commands.Cog):
    """Owns the generation commands (added to the tree on load, removed on unload)."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.catalog = bot.services.catalog
        self.specs = command_specs(self.catalog)
        self._added: list[str] = []

    async def cog_load(self) -> None:
        for spec in self.specs:
            command = build_command(spec, self.run, self._autocompleters(spec))
            self.bot.tree.add_command(command)
            self._added.append(command.name)

    async def cog_unload(self) -> None:
        for name in self._added:
            self.bot.tree.remove_command(name)
        self._added.clear()

    # -- the one code path -------------------------------------------------------------

    async def run(
        self, interaction: discord.Interaction, spec: CommandSpec, values: dict[str, Any]
    ) -> None:
        """Every generation command: check, accept, answer with the card, submit."""
        locale = locale_of(interaction)
        if interaction.guild_id is None or interaction.channel_id is None:
            raise UserFacingError(t(locale, "Use Atelier in a server channel."))
        attachments: list[discord.Attachment] = [
            values[name] for name in spec.image_options if values.get(name) is not None
        ]
        references = [
            (values[name], kind)
            for kind in MEDIA_KINDS
            for name in spec.attachment_options(kind)
            if values.get(name) is not None
        ]
        if (attachments or references) and not interaction.permissions.attach_files:
            raise NotAllowed(
                t(
                    locale,
                    "You can't attach files in this channel, so Atelier can't use your "
                    "images here. Leave the image options empty or use another channel.",
                )
            )
        options = {key: values[key] for key in OPTION_FIELDS if values.get(key) not in (None, "")}
        prompt, style = await self.styled(
            interaction.guild_id, str(values.get("prompt") or ""), values.get("style")
        )
        preferred = await self.preferred_models(
            interaction.guild_id, interaction.channel_id, spec.media, interaction.user.id
        )
        model = resolve_model(
            self.catalog,
            spec,
            values.get("model"),
            options=options,
            image_count=len(attachments),
            preferred=preferred,
            locale=locale,
            references={k: sum(1 for _, kind in references if kind == k) for k in MEDIA_KINDS},
        )
        real = effective_model(self.catalog, model, len(attachments))
        infos = [_info(a) for a in attachments]
        media = [(_info(a), kind) for a, kind in references]
        urls = check_inputs(infos, media, real, locale=locale)
        # Their first bytes, before anything is reserved (within the 3 s the answer has).
        hosts = api_hosts()
        found = await asyncio.gather(
            check_bytes(infos, allowed_hosts=hosts, locale=locale),
            check_media_bytes(media, real, allowed_hosts=hosts, locale=locale),
            return_exceptions=True,
        )
        for error in found:
            if isinstance(error, BaseException):
                raise error
        request = GenerationRequest(
            model=model.id,
            prompt=prompt,
            options=options,
            image_urls=urls,
            nsfw_channel=is_nsfw(interaction.channel),
            style=style,
        )
        await launch(self.services, interaction, request)

    async def styled(self, guild_id: int, prompt: str, style: Any) -> tuple[str, str | None]:
        """The prompt as sent (``prompt, style text``) and the house style's name."""
        if not style:
            return prompt, None
        config = await self.services.queries.guild_config(guild_id)
        name, text = find_style(config.styles, str(style))
        return styled_prompt(prompt, text), name

    async def preferred_models(
        self, guild_id: int, channel_id: int, media: tuple[Media, ...], user_id: int | None = None
    ) -> list[str | None]:
        """The defaults (:func:`bot.domain.presets.layers`: the member's ``/prefer`` first)
        for each media, then the catalogue's."""
        config = await self.services.queries.guild_config(guild_id)
        mine = await self.services.preferences.layer(guild_id, user_id) if user_id else {}
        found: list[str | None] = [*preferred_models(config, channel_id, media, mine)]
        for m in media:
            with contextlib.suppress(ValidationError):
                found.append(self.catalog.default_model(m))
        return skip_paused(found, config.paused_models, self.catalog, media)

    # -- autocomplete --------------------------------------------------------------------

    def _autocompleters(self, spec: CommandSpec) -> dict[str, Completer]:
        async def model(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[Any]]:
            allowed: Callable[[str], bool] | None = None
            if interaction.guild_id is not None:
                config = await self.services.queries.guild_config(interaction.guild_id)
                allowed = config.model_offered
            return _choices(model_choices(self.catalog, spec, str(current or ""), allowed=allowed))

        def values_for(key: str) -> Completer:
            async def complete(
                interaction: discord.Interaction, current: Any
            ) -> list[app_commands.Choice[Any]]:
                chosen = getattr(interaction.namespace, "model", None)
                model = model_for_values(self.catalog, spec, str(chosen) if chosen else None)
                if model is None:
                    return []
                return _choices(value_choices(model, key, str(current or "")))

            return complete

        async def style(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[Any]]:
            if interaction.guild_id is None:
                return []
            config = await self.services.queries.guild_config(interaction.guild_id)
            return _choices(style_choices(config.styles, str(current or "")))

        keys = ("ratio", "resolution", "duration", "mode")
        return {"model": model, "style": style, **{key: values_for(key) for key in keys}}


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Generate(bot))
