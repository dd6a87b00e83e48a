"""Upscale: the ``atelier:upscale:<job id>`` button under an image result starts a new
job, charged to the clicker, on the model's image→image form at its highest resolution,
with the chosen result image as input. ``cogs/buttons.py`` hands the click here."""

from __future__ import annotations

from typing import Any

import discord

from bot.discord_io.button_actions import ButtonActions, Handler
from bot.discord_io.client import AtelierBot
from bot.discord_io.posted_copy import result_image_urls
from bot.discord_io.ui import locale_of
from bot.domain.catalog import OPTION_FIELDS
from bot.domain.errors import UserFacingError
from bot.domain.job import Job
from bot.domain.upscale import image_model, upscale_target
from bot.text.i18n import t


class Upscale(ButtonActions):
    """The Upscale button."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.catalog = bot.services.catalog

    def actions(self) -> dict[str, Handler]:
        return {"upscale": self.upscale}

    async def upscale(self, interaction: discord.Interaction, job: Job) -> None:
        """A new job for the clicker: the chosen result image at the highest resolution."""
        locale = locale_of(interaction)
        target = upscale_target(self.catalog, job.model, job.options, job.result_kind or job.media)
        if target is None:
            raise UserFacingError(
                t(
                    locale,
                    "Job #{job_id} is already at its model's highest resolution.",
                    job_id=job.id,
                )
            )
        buttons: Any = self.bot.get_cog("JobButtons")
        urls = await result_image_urls(
            interaction.guild, job, now=self.services.jobs.clock(), locale=locale
        )
        base = self.catalog.get(job.model)
        real = image_model(self.catalog, job.model) or base
        options = {
            key: value
            for key, value in job.options.items()
            if key in OPTION_FIELDS
            and key != "count"
            and real.option(OPTION_FIELDS[key]) is not None
        }
        options["resolution"] = target

        text = t(locale, "Upscale which image of job #{job_id}?", job_id=job.id)
        await buttons.from_result_image(interaction, job, urls, options, "upscale", text)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Upscale(bot))
