"""``/settings channels spoiler`` and ``/settings adult``: what results may show."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.domain.guild_config import GuildConfig
from bot.text.i18n import t

from ._common import SettingsMixin
from ._groups import CHANNELS, SETTINGS


def spoiler_text(config: GuildConfig, locale: str | None) -> str:
    """The spoiler channels, for ``/settings show``."""
    if not config.spoiler_channel_ids:
        return t(locale, "none")
    return " ".join(f"<#{c}>" for c in sorted(config.spoiler_channel_ids))[:1024]


def adult_text(config: GuildConfig, locale: str | None) -> str:
    """The adult switch, for ``/settings show``."""
    if config.adult_allowed:
        return t(locale, "allowed in age-restricted channels")
    return t(locale, "off: refused everywhere")


class ContentSettings(SettingsMixin):
    """Mixed into :class:`.settings.SettingsCommands`."""

    @CHANNELS.command(name="spoiler", description="Make every result posted in a channel a spoiler")
    @app_commands.describe(
        channel="The channel whose results are hidden behind spoilers",
        on="On (the default): results there are spoilers; off: they are not any more",
    )
    async def channels_spoiler(
        self, interaction: discord.Interaction, channel: discord.TextChannel, on: bool = True
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        change = await self.bot.services.reports.set_spoiler_channel(
            guild_id, actor_id, channel.id, on, locale
        )
        await self.changed(interaction, change)

    @SETTINGS.command(name="adult", description="Allow adult values (Grok's spicy mode) or not")
    @app_commands.describe(
        switch="on: allowed in age-restricted channels; off: refused in every channel"
    )
    @app_commands.choices(
        switch=[
            app_commands.Choice(name="on", value="on"),
            app_commands.Choice(name="off", value="off"),
        ]
    )
    async def settings_adult(
        self, interaction: discord.Interaction, switch: app_commands.Choice[str]
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        change = await self.bot.services.reports.set_adult(
            guild_id, actor_id, switch.value == "on", locale
        )
        await self.changed(interaction, change)
