"""``/settings channel`` (a channel's own defaults) and ``/settings styles add|remove|list``
(house styles members add to their prompts)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.discord_io.command_specs import choice_name, style_choices
from bot.discord_io.ui import INFO_COLOUR, OK_COLOUR, reply
from bot.domain.catalog import Media
from bot.domain.guild_config import GuildConfig
from bot.domain.presets import STYLE_NAME_MAX, STYLE_TEXT_MAX
from bot.services import channel_defaults as presets
from bot.text.i18n import t

from ._common import SettingsMixin, listed, model_choices
from ._groups import SETTINGS

#: Discord: at most 25 fields in an embed and 6,000 characters in all.
STYLES_LIST_CHARS = 5000


class DefaultsSettings(SettingsMixin):
    """Mixed into :class:`.settings.SettingsCommands`."""

    styles = app_commands.Group(
        name="styles", description="House styles members can add to their prompts", parent=SETTINGS
    )

    # -- a channel's defaults --------------------------------------------------------------

    @SETTINGS.command(name="channel", description="Defaults for jobs started in one channel")
    @app_commands.describe(
        channel="The channel",
        image_model='Default image model there ("default": the server\'s)',
        video_model='Default video model there ("default": the server\'s)',
        ratio='Default aspect ratio there, e.g. 16:9 ("default": the server\'s)',
        resolution='Default resolution there, e.g. 2k ("default": the server\'s)',
        clear="Drop every default of this channel (the server's apply again)",
    )
    async def settings_channel(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        image_model: app_commands.Range[str, 1, 100] | None = None,
        video_model: app_commands.Range[str, 1, 100] | None = None,
        ratio: app_commands.Range[str, 1, 20] | None = None,
        resolution: app_commands.Range[str, 1, 20] | None = None,
        clear: bool = False,
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        given = {
            "image_model": image_model,
            "video_model": video_model,
            "ratio": ratio,
            "resolution": resolution,
        }
        change = await presets.set_channel_defaults(
            self.guild_settings, guild_id, actor_id, channel.id, given, clear=clear, locale=locale
        )
        await self.changed(interaction, change)

    def channel_defaults_text(self, config: GuildConfig, locale: str) -> str:
        """The channels with defaults of their own, for ``/settings show``."""
        lines = presets.channel_lines(config, locale)
        return listed(lines, locale) if lines else t(locale, "none")

    async def _models_offered(
        self, interaction: discord.Interaction, media: Media, current: str
    ) -> list[app_commands.Choice[str]]:
        offered = None
        if interaction.guild_id is not None:
            offered = (await self.guild_settings.guild_config(interaction.guild_id)).model_offered
        return model_choices(
            self.bot.services.catalog,
            media,
            current,
            default="default (the server's)",
            offered=offered,
        )

    @settings_channel.autocomplete("image_model")
    async def channel_image_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._models_offered(interaction, "image", str(current))

    @settings_channel.autocomplete("video_model")
    async def channel_video_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._models_offered(interaction, "video", str(current))

    def _values_offered(self, key: str, current: str) -> list[app_commands.Choice[str]]:
        """Every value some enabled model takes for ``key``, filtered by what was typed."""
        return [
            app_commands.Choice(name=choice_name(key, v), value=v)
            for v in self.bot.services.catalog.values_taken(key, current)
        ]

    @settings_channel.autocomplete("ratio")
    async def channel_ratio_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self._values_offered("ratio", str(current))

    @settings_channel.autocomplete("resolution")
    async def channel_resolution_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self._values_offered("resolution", str(current))

    # -- house styles ----------------------------------------------------------------------

    @styles.command(name="add", description="Add a house style, or change one's text")
    @app_commands.describe(
        name="A short name members pick it by",
        text='Added to the prompt, e.g. "watercolour, soft light" or "avoid text and logos"',
    )
    async def styles_add(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, STYLE_NAME_MAX],
        text: app_commands.Range[str, 1, STYLE_TEXT_MAX],
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        change = await presets.add_style(
            self.guild_settings, guild_id, actor_id, name, text, locale
        )
        await reply(interaction, embed=self.styles_embed(change.config, locale, change.summary))

    @styles.command(name="remove", description="Take a house style off the list")
    @app_commands.describe(name="The style to remove")
    async def styles_remove(
        self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        change = await presets.remove_style(self.guild_settings, guild_id, actor_id, name, locale)
        await reply(interaction, embed=self.styles_embed(change.config, locale, change.summary))

    @styles_remove.autocomplete("name")
    async def style_name_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        config = await self.guild_settings.guild_config(interaction.guild_id)
        return [
            app_commands.Choice(name=c.name, value=str(c.value))
            for c in style_choices(config.styles, str(current))
        ]

    @styles.command(name="list", description="The house styles members can pick")
    async def styles_list(self, interaction: discord.Interaction) -> None:
        guild_id, _, locale = await self.as_moderator(interaction)
        config = await self.guild_settings.guild_config(guild_id)
        await reply(interaction, embed=self.styles_embed(config, locale))

    def styles_embed(
        self, config: GuildConfig, locale: str, summary: str | None = None
    ) -> discord.Embed:
        """Every house style (name and text), a change on top when there was one."""
        embed = discord.Embed(
            title=t(locale, "House styles ({n})", n=len(config.styles)),
            colour=OK_COLOUR if summary else INFO_COLOUR,
        )
        lines = [summary] if summary else []
        if not config.styles:
            lines.append(t(locale, "No house styles yet. Add one with /settings styles add."))
        embed.description = "\n\n".join(lines) or None
        room = STYLES_LIST_CHARS // max(len(config.styles), 1)
        for name, text in sorted(config.styles.items(), key=lambda item: item[0].casefold()):
            shown = text if len(text) <= room else text[: room - 1] + "…"
            embed.add_field(name=name, value=shown, inline=False)
        embed.set_footer(
            text=t(
                locale,
                "Members pick one with the style option of /imagine, /video and the model "
                "commands; its text is added to the end of their prompt.",
            )
        )
        return embed
