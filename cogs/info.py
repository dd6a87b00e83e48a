"""``/models``: what each model can do, typical time and price, paged."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.ui import locale_of
from bot.text.i18n import t
from bot.text.model_pages import ModelLine, cancel_policy, pages

EMBED_COLOUR = discord.Colour.blurple()


def page_embed(
    lines: list[ModelLine],
    index: int,
    total: int,
    locale: str | None = None,
    note: str | None = None,
) -> discord.Embed:
    """One page of models; ``note`` (what a cancel costs) goes above them."""
    embed = discord.Embed(title=t(locale, "Models"), description=note, colour=EMBED_COLOUR)
    for line in lines:
        embed.add_field(name=line.title[:256], value=line.body[:1024], inline=False)
    embed.set_footer(
        text=t(locale, "Page {page}/{total} · prices in USD", page=index + 1, total=total)
    )
    return embed


class ModelPager(discord.ui.View):
    """Prev/Next over the model pages; only the member who asked can turn them."""

    def __init__(
        self,
        all_pages: list[list[ModelLine]],
        owner_id: int,
        locale: str | None = None,
        note: str | None = None,
    ) -> None:
        super().__init__(timeout=300)
        self.pages = all_pages
        self.index = 0
        self.owner_id = owner_id
        self.locale = locale
        self.note = note
        self.previous.label = t(locale, "Previous")
        self.next.label = t(locale, "Next")
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.owner_id

    async def _show(self, interaction: discord.Interaction) -> None:
        self._sync_buttons()
        embed = page_embed(
            self.pages[self.index], self.index, len(self.pages), self.locale, self.note
        )
        await interaction.response.edit_message(embed=embed, view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        self.index = max(0, self.index - 1)
        await self._show(interaction)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        self.index = min(len(self.pages) - 1, self.index + 1)
        await self._show(interaction)


class Info(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    @app_commands.command(name="models", description="The models, what each can do, time and price")
    async def models(self, interaction: discord.Interaction) -> None:
        locale = locale_of(interaction)
        paused: dict[str, str] = {}
        if interaction.guild_id is not None:
            config = await self.bot.services.queries.guild_config(interaction.guild_id)
            paused = config.paused_models
        all_pages = pages(self.bot.services.catalog, locale=locale, paused=paused)
        note = cancel_policy(self.bot.services.settings.cancel_refunds, locale)
        view = ModelPager(all_pages, interaction.user.id, locale, note)
        await interaction.response.send_message(
            embed=page_embed(all_pages[0], 0, len(all_pages), locale, note),
            view=view,
            ephemeral=True,
        )


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Info(bot))
