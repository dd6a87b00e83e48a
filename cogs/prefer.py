"""``/prefer show | set | reset``: a member's own defaults in this server (private answers)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.command_specs import choice_name, imagine_spec, model_choices, video_spec
from bot.discord_io.ui import INFO_COLOUR, OK_COLOUR, locale_of, reply
from bot.domain.errors import UserFacingError
from bot.text.i18n import t
from bot.text.prefs_page import prefs_lines


def _guild(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None:
        raise UserFacingError("Use Atelier in a server channel.")
    return interaction.guild_id


class Prefer(commands.Cog):
    """Members' preferences: what their jobs use when a command does not say."""

    prefer = app_commands.Group(
        name="prefer", description="Your own defaults for jobs in this server", guild_only=True
    )

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.service = bot.services.preferences
        self.catalog = bot.services.catalog
        self.image_spec = imagine_spec(self.catalog)
        self.video_spec = video_spec(self.catalog)

    @prefer.command(name="show", description="Show your defaults in this server")
    async def show(self, interaction: discord.Interaction) -> None:
        locale = locale_of(interaction)
        view = await self.service.view(_guild(interaction), interaction.user.id)
        await self._answer(
            interaction,
            prefs_lines(view.prefs, view.config, view.dm_closed, self.catalog, locale),
            INFO_COLOUR,
        )

    @prefer.command(name="set", description="Set your defaults in this server")
    @app_commands.describe(
        image_model='Your image model when a command names none ("default": the server\'s)',
        video_model='Your video model when a command names none ("default": the server\'s)',
        ratio='Your aspect ratio, e.g. 16:9 ("default": the server\'s)',
        resolution='Your resolution, e.g. 2k ("default": the server\'s)',
        notify="dm: also a DM when a job that ran over 2 minutes ends",
    )
    @app_commands.choices(
        notify=[
            app_commands.Choice(name="channel", value="channel"),
            app_commands.Choice(name="dm", value="dm"),
        ]
    )
    async def set_(
        self,
        interaction: discord.Interaction,
        image_model: app_commands.Range[str, 1, 100] | None = None,
        video_model: app_commands.Range[str, 1, 100] | None = None,
        ratio: app_commands.Range[str, 1, 20] | None = None,
        resolution: app_commands.Range[str, 1, 20] | None = None,
        notify: str | None = None,
    ) -> None:
        locale = locale_of(interaction)
        given = {
            "image_model": image_model,
            "video_model": video_model,
            "ratio": ratio,
            "resolution": resolution,
            "notify": notify,
        }
        guild_id = _guild(interaction)
        await self.service.set(guild_id, interaction.user.id, given)
        view = await self.service.view(guild_id, interaction.user.id)
        lines = [
            t(locale, "Saved."),
            *prefs_lines(view.prefs, view.config, view.dm_closed, self.catalog, locale),
        ]
        await self._answer(interaction, lines, OK_COLOUR)

    @prefer.command(name="reset", description="Forget your defaults in this server")
    async def reset(self, interaction: discord.Interaction) -> None:
        locale = locale_of(interaction)
        had = await self.service.reset(_guild(interaction), interaction.user.id)
        text = (
            "Your preferences here are forgotten: the server's defaults apply again."
            if had
            else "You have no preferences here: the server's defaults apply."
        )
        await self._answer(interaction, [t(locale, text)], OK_COLOUR)

    async def _answer(
        self, interaction: discord.Interaction, lines: list[str], colour: discord.Colour
    ) -> None:
        locale = locale_of(interaction)
        embed = discord.Embed(
            title=t(locale, "Your preferences"), description="\n".join(lines), colour=colour
        )
        await reply(interaction, embed=embed)

    # -- autocomplete ------------------------------------------------------------------------

    async def _models(
        self, interaction: discord.Interaction, current: str, video: bool
    ) -> list[app_commands.Choice[str]]:
        spec = self.video_spec if video else self.image_spec
        config = await self.bot.services.queries.guild_config(_guild(interaction))
        found = model_choices(self.catalog, spec, current, allowed=config.model_offered)
        return [app_commands.Choice(name=c.name, value=str(c.value)) for c in found]

    @set_.autocomplete("image_model")
    async def image_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._models(interaction, str(current), video=False)

    @set_.autocomplete("video_model")
    async def video_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._models(interaction, str(current), video=True)

    def _values(self, key: str, current: str) -> list[app_commands.Choice[str]]:
        """Every value some enabled model takes for ``key``, filtered by what was typed."""
        return [
            app_commands.Choice(name=choice_name(key, v), value=v)
            for v in self.catalog.values_taken(key, current)
        ]

    @set_.autocomplete("ratio")
    async def ratio_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self._values("ratio", str(current))

    @set_.autocomplete("resolution")
    async def resolution_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self._values("resolution", str(current))


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Prefer(bot))
