"""Remix (``atelier:remix:<job id>``, handed here by ``cogs/buttons.py``): a modal with the
job's prompt and main options prefilled; its submit starts a new job for the submitter,
with the same model, images and style."""

from __future__ import annotations

import discord

from bot.discord_io.button_actions import ButtonActions, Handler
from bot.discord_io.client import AtelierBot
from bot.discord_io.launch import check_bot_permissions, is_nsfw, launch
from bot.discord_io.prompt_modal import PROMPT, remix_keys, remix_modal, remix_options
from bot.discord_io.ui import locale_of
from bot.domain.catalog import GenerationRequest
from bot.domain.errors import UserFacingError
from bot.domain.job import Job
from bot.services.model_switch import refuse_paused


class Remix(ButtonActions):
    """The Remix button and its modal."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.catalog = bot.services.catalog

    def actions(self) -> dict[str, Handler]:
        """The button actions this cog answers."""
        return {"remix": self.remix}

    async def remix(self, interaction: discord.Interaction, job: Job) -> None:
        """Open the modal; a model that is gone or paused here, or a channel the bot cannot
        post in, is refused at once (the rest of a command's checks run at the submit)."""
        locale = locale_of(interaction)
        check_bot_permissions(interaction)
        model = self.catalog.get(job.model)
        config = await self.services.queries.guild_config(interaction.guild_id or 0)
        refuse_paused(config, self.catalog, job.model)
        keys = remix_keys(model)

        async def submit(ix: discord.Interaction, typed: dict[str, str]) -> None:
            prompt = typed.get(PROMPT, "").strip()
            if not prompt:
                raise UserFacingError("Write a prompt to remix with.")
            request = GenerationRequest(
                model=job.model,
                prompt=prompt,
                style=job.style,
                options=remix_options(job.options, typed, keys),
                image_urls=list(job.image_urls),
                nsfw_channel=is_nsfw(ix.channel),
            )
            await launch(self.services, ix, request, parent_job_id=job.id, action="remix")

        modal = remix_modal(
            job, model, locale=locale, limit=self.catalog.prompt_max_chars, submit=submit
        )
        await interaction.response.send_modal(modal)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Remix(bot))
