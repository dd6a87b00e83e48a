"""Confirm under the private cost question of an expensive job. ``cogs/buttons.py``
hands every ``atelier:confirm:<job id>`` click here (Cancel stays its own), after a
restart too: the hold is read from the store on each click."""

from __future__ import annotations

import discord

from bot.discord_io.button_actions import ButtonActions, Handler
from bot.discord_io.client import AtelierBot
from bot.discord_io.confirm_prompt import start_confirmed
from bot.discord_io.ui import locale_of, reply
from bot.domain.job import Job
from bot.services.confirmation import ConfirmationService
from bot.text.i18n import t


class ConfirmButton(ButtonActions):
    """Confirm: only the job's member; once; before the 2 minutes are up."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.confirmation = ConfirmationService(bot.services.jobs)

    def actions(self) -> dict[str, Handler]:
        return {"confirm": self.confirm}

    async def confirm(self, interaction: discord.Interaction, job: Job) -> None:
        """Release the hold and start the job in public, or say in one sentence why not."""
        outcome = await self.confirmation.confirm(job.id, interaction.user.id)
        if not outcome.confirmed:
            await reply(interaction, t(locale_of(interaction), outcome.message, job_id=job.id))
            return
        await start_confirmed(self.services, interaction, outcome.job)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(ConfirmButton(bot))
