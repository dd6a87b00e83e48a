"""``/queue``: moderators (Manage Server, checked when it runs) page through every active
job in the server, oldest first, with a Cancel for each; members see only their own
jobs' places in that queue. Both answers are private.

Cancel is the persistent ``atelier:cancel:<job id>`` button of ``cogs/buttons.py`` (its
rights and refunds as everywhere else). Previous, Refresh and Next are
``atelier:queue:<prev|show|next>:<page>``, answered by :class:`QueueButton`, a
``DynamicItem`` registered when this extension loads, so they work after a restart; each
click checks the clicker's rights again and reads the page afresh.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.ui import (
    INFO_COLOUR,
    cancel_buttons,
    guarded,
    is_moderator,
    locale_of,
    reply,
    running_cog,
)
from bot.domain.errors import UserFacingError
from bot.text.i18n import t
from bot.text.queue_page import (
    QUEUE_BUTTON,
    QueueText,
    member_places,
    moderator_page,
    queue_button_id,
)

ROW = 5  # buttons in one row


class QueueButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=QUEUE_BUTTON.pattern):
    """A Previous, Refresh or Next button of a ``/queue`` answer, before or after a restart."""

    def __init__(self, direction: str, page: int) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=direction, custom_id=queue_button_id(direction, page)
        )
        super().__init__(button)
        self.page = page

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> QueueButton:
        return cls(match["direction"], int(match["page"]))

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        cog = running_cog(interaction, Queue)
        await cog.turn(interaction, self.page)


def queue_view(shown: QueueText, locale: str) -> discord.ui.View:
    """Cancel for each stoppable job (five to a row), then Previous, Refresh and Next.
    Stopped before it is sent: the persistent handlers answer every click."""
    view = cancel_buttons(shown.cancel_ids, locale) or discord.ui.View(timeout=None)
    row = -(-len(shown.cancel_ids) // ROW)
    page, pages = shown.page, shown.pages
    buttons = [("show", page, t(locale, "Refresh"), False)]
    if pages > 1:
        buttons = [
            ("prev", page - 1, t(locale, "Previous"), page <= 1),
            buttons[0],
            ("next", page + 1, t(locale, "Next"), page >= pages),
        ]
    for direction, target, label, disabled in buttons:
        view.add_item(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=queue_button_id(direction, min(max(target, 1), pages)),
                disabled=disabled,
                row=row,
            )
        )
    view.stop()
    return view


class Queue(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.queries = bot.services.queries

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(QueueButton)

    @app_commands.command(
        name="queue", description="The server's active jobs (members: your place in the queue)"
    )
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        # Acknowledge before reading: the database thread is shared with the poller.
        await interaction.response.defer(ephemeral=True, thinking=True)
        embed, view = await self.render(interaction, 1)
        await reply(interaction, embed=embed, view=view)

    async def turn(self, interaction: discord.Interaction, page: int) -> None:
        """A paging click: the same private message shows ``page`` (read again)."""
        await interaction.response.defer()
        embed, view = await self.render(interaction, page)
        await interaction.edit_original_response(embed=embed, view=view)

    async def render(
        self, interaction: discord.Interaction, page: int
    ) -> tuple[discord.Embed, discord.ui.View]:
        """Moderators (Manage Server, now): the queue's ``page``; anyone else: their places."""
        guild_id = interaction.guild_id
        if guild_id is None:
            raise UserFacingError("Use this command in a server.")
        locale = locale_of(interaction)
        if is_moderator(interaction):
            found = await self.queries.queue_page(guild_id, page)
            shown = moderator_page(
                found.jobs,
                total=found.total,
                page=found.page,
                pages=found.pages,
                first_place=found.first_place,
                locale=locale,
            )
        else:
            mine = await self.queries.queue_places(guild_id, interaction.user.id)
            shown = member_places(mine.places, total=mine.total, locale=locale)
        embed = discord.Embed(title=shown.title, description=shown.description, colour=INFO_COLOUR)
        embed.set_footer(text=shown.footer)
        return embed, queue_view(shown, locale)


async def setup(bot: AtelierBot) -> None:
    bot.add_dynamic_items(QueueButton)
    await bot.add_cog(Queue(bot))
