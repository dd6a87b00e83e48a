"""The job buttons: Cancel on progress cards and ``/jobs``; Reroll, Variations, Animate,
Info and Delete under results.

Every button is ``atelier:<action>:<job id>`` and is answered by :class:`JobButton`, a
``DynamicItem`` registered when this extension loads (in ``setup_hook``), so buttons on
messages posted before a restart keep working: the job is read from the store on every
click, never from memory. Every click checks again what it needs: that the job exists
and belongs to this server, the clicker's rights, and (through ``JobService.accept``)
their limits.

Rights: anyone may remix a result they can see (Reroll, Variations, Animate start a
new job charged to the clicker); Cancel and Delete are for the job's owner or a
moderator (Manage Server, or Manage Messages in the job's channel); Delete removes only
the job's own messages; Info is for everyone, privately.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord.ext import commands

from bot.discord_io.button_actions import Handler
from bot.discord_io.client import AtelierBot
from bot.discord_io.command_specs import effective_model, price_hint
from bot.discord_io.launch import is_nsfw, launch
from bot.discord_io.posted_copy import result_image_urls
from bot.discord_io.prompt_modal import MOTION, animate_modal
from bot.discord_io.ui import (
    CUSTOM_ID,
    INFO_COLOUR,
    GuardedView,
    can_manage_jobs,
    guarded,
    locale_of,
    reply,
    running_cog,
)
from bot.domain.catalog import OPTION_FIELDS, GenerationRequest, Model
from bot.domain.errors import NotAllowed, UserFacingError
from bot.domain.job import Job
from bot.services.message_images import takes_images
from bot.text.confirmation import picked_text
from bot.text.i18n import t
from bot.text.job_pages import can_manage, cancel_text, not_yours
from bot.text.markdown import escape_markdown
from bot.text.progress_card import cost_text, options_text, state_text

log = logging.getLogger(__name__)

PICKER_TIMEOUT = 300.0
MAX_OPTIONS = 25

Start = Callable[[discord.Interaction, str | None, int], Awaitable[Job]]


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID.pattern):
    """Any ``atelier:<action>:<job id>`` button, before or after a restart."""

    def __init__(self, action: str, job_id: int) -> None:
        super().__init__(discord.ui.Button(label=action, custom_id=f"atelier:{action}:{job_id}"))
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JobButton:
        return cls(match["action"], int(match["job_id"]))

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        cog = running_cog(interaction, JobButtons)
        await cog.handle(interaction, self.action, self.job_id)


class RemixPicker(GuardedView):
    """Ephemeral: which result image (when there are several) and, for Animate, which
    video model. Short-lived on purpose: the result's own button opens a new one."""

    def __init__(
        self,
        *,
        owner_id: int,
        opener: discord.Interaction,
        images: int,
        models: list[Model],
        start: Start,
        locale: str,
    ) -> None:
        super().__init__(timeout=PICKER_TIMEOUT)
        self.owner_id = owner_id
        self.opener = opener
        self.start = start
        self.locale = locale
        self.image_index = 0
        self.image_select: discord.ui.Select[Any] | None = None
        self.model_select: discord.ui.Select[Any] | None = None
        if images > 1:
            self.image_select = discord.ui.Select(
                placeholder=t(locale, "Which image?"),
                options=[
                    discord.SelectOption(
                        label=t(locale, "Image {number}", number=i + 1),
                        value=str(i),
                        default=i == 0,
                    )
                    for i in range(min(images, MAX_OPTIONS))
                ],
            )
            self.image_select.callback = self._image_chosen  # type: ignore[method-assign]
            self.add_item(self.image_select)
        if models:
            self.model_select = discord.ui.Select(
                placeholder=t(locale, "Pick a video model"),
                options=[
                    discord.SelectOption(
                        label=m.label[:100],
                        value=m.id,
                        description=f"{m.id} · {price_hint(m)}"[:100],
                    )
                    for m in models[:MAX_OPTIONS]
                ],
            )
            self.model_select.callback = self._model_chosen  # type: ignore[method-assign]
            self.add_item(self.model_select)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.owner_id

    async def on_timeout(self) -> None:
        # Dismissed, or the token is gone: then nothing is left to tidy.
        with contextlib.suppress(discord.HTTPException):
            await self.opener.edit_original_response(
                content=t(self.locale, "This choice expired: click the button again."), view=None
            )

    async def _image_chosen(self, interaction: discord.Interaction) -> None:
        assert self.image_select is not None
        self.image_index = int(self.image_select.values[0])
        if self.model_select is None:
            await self._start(interaction, None)
        else:
            await interaction.response.defer()

    async def _model_chosen(self, interaction: discord.Interaction) -> None:
        assert self.model_select is not None
        await self._start(interaction, self.model_select.values[0])

    async def _start(self, interaction: discord.Interaction, model_id: str | None) -> None:
        job = await self.start(interaction, model_id, self.image_index)
        self.stop()
        text = picked_text(job, self.locale)
        try:
            await self.opener.edit_original_response(content=text, view=None)
        except discord.HTTPException as exc:
            log.info("job %s: could not close the picker: %s", job.id, exc)


class JobButtons(commands.Cog):
    """What each job button does."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.jobs = bot.services.jobs
        self.catalog = bot.services.catalog
        #: Actions other cogs answer (``cogs/reports.py``: report, keep, remove).
        self.more_actions: dict[str, Handler] = {}

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(JobButton)

    async def handle(self, interaction: discord.Interaction, action: str, job_id: int) -> None:
        locale = locale_of(interaction)
        handlers: dict[str, Callable[[discord.Interaction, Job], Awaitable[None]]] = {
            "cancel": self.cancel,
            "reroll": self.reroll,
            "vary": self.vary,
            "animate": self.animate,
            "info": self.info,
            "delete": self.delete,
        }
        handler = handlers.get(action) or self.more_actions.get(action)
        if handler is None:
            raise UserFacingError(t(locale, "This button no longer does anything."))
        job = await self.services.queries.in_guild(job_id, interaction.guild_id)
        if job is None:
            raise UserFacingError(t(locale, "Job #{job_id} no longer exists.", job_id=job_id))
        await handler(interaction, job)

    # -- Cancel --------------------------------------------------------------------------

    async def cancel(self, interaction: discord.Interaction, job: Job) -> None:
        locale = locale_of(interaction)
        user_id = interaction.user.id
        if not can_manage(
            job,
            user_id=user_id,
            guild_id=interaction.guild_id,
            moderator=can_manage_jobs(interaction, job.channel_id),
        ):
            raise NotAllowed(not_yours(job.id, "cancel", locale))
        # Cancelling may ask Max API: answer first, so Discord's 3 seconds never run out.
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self.jobs.cancel(job.id, f"cancelled by {user_id} (button)")
        text = cancel_text(
            outcome.message,
            outcome.job,
            cancelled=outcome.cancelled,
            caller_id=user_id,
            locale=locale,
        )
        await reply(interaction, text)
        if outcome.cancelled:
            await self.services.audit.cancelled(job, user_id)

    # -- Reroll, Variations, Animate -------------------------------------------------------

    async def reroll(self, interaction: discord.Interaction, job: Job) -> None:
        """The same model, prompt, options and images, as a new job for the clicker."""
        request = GenerationRequest(
            model=job.model,
            prompt=job.prompt,
            style=job.style,
            options=dict(job.options),
            image_urls=list(job.image_urls),
            nsfw_channel=is_nsfw(interaction.channel),
        )
        await launch(self.services, interaction, request, parent_job_id=job.id, action="reroll")

    async def vary(self, interaction: discord.Interaction, job: Job) -> None:
        """Image-to-image from a result, on the same model (or its image variant)."""
        locale = locale_of(interaction)
        urls = await result_image_urls(interaction.guild, job, now=self.jobs.clock(), locale=locale)
        base = self.catalog.get(job.model)
        real = effective_model(self.catalog, base, 1)
        if real.images is None:
            raise UserFacingError(
                t(
                    locale,
                    "{model} can't start from an image, so it can't make variations. "
                    "Try Reroll, or /imagine with the image attached.",
                    model=base.id,
                )
            )
        options = {
            key: value
            for key, value in job.options.items()
            if key in OPTION_FIELDS and real.option(OPTION_FIELDS[key]) is not None
        }
        question = t(locale, "Vary which image?")
        await self.from_result_image(interaction, job, urls, options, "vary", question)

    async def from_result_image(
        self,
        interaction: discord.Interaction,
        job: Job,
        urls: list[str],
        options: dict[str, Any],
        action: str,
        question: str,
    ) -> None:
        """A new job on ``job``'s model from one of its result images (asking which, when
        there are several): Variations and Upscale."""

        async def start(ix: discord.Interaction, _model: str | None, index: int) -> Job:
            request = GenerationRequest(
                model=job.model,
                prompt=job.prompt,
                style=job.style,
                options=options,
                image_urls=[urls[index]],
                nsfw_channel=is_nsfw(ix.channel),
            )
            return await launch(self.services, ix, request, parent_job_id=job.id, action=action)

        if len(urls) == 1:
            await start(interaction, None, 0)
            return
        await self._picker(interaction, len(urls), [], start, question)

    async def animate(self, interaction: discord.Interaction, job: Job) -> None:
        """Image-to-video from a result: a modal asks how it should move (empty: the
        image's prompt), then the member picks the image and the video model."""
        locale = locale_of(interaction)
        urls = await result_image_urls(interaction.guild, job, now=self.jobs.clock(), locale=locale)
        models = await self._animators(interaction)
        if not models:
            raise UserFacingError(
                t(locale, "No video model that starts from an image is enabled here.")
            )

        async def moved(answer: discord.Interaction, typed: dict[str, str]) -> None:
            motion = typed.get(MOTION, "").strip()

            async def start(ix: discord.Interaction, model_id: str | None, index: int) -> Job:
                assert model_id is not None
                request = GenerationRequest(
                    model=model_id,
                    prompt=motion or job.prompt,
                    style=None if motion else job.style,  # the style's text is in job.prompt
                    image_urls=[urls[index]],
                    nsfw_channel=is_nsfw(ix.channel),
                )
                return await launch(
                    self.services, ix, request, parent_job_id=job.id, action="animate"
                )

            prompt = t(locale, "Animate job #{job_id}: pick a video model.", job_id=job.id)
            await self._picker(answer, len(urls), models, start, prompt)

        limit = self.catalog.prompt_max_chars
        await interaction.response.send_modal(
            animate_modal(job, locale=locale, limit=limit, submit=moved)
        )

    async def _picker(
        self,
        interaction: discord.Interaction,
        images: int,
        models: list[Model],
        start: Start,
        text: str,
    ) -> None:
        view = RemixPicker(
            owner_id=interaction.user.id,
            opener=interaction,
            images=images,
            models=models,
            start=start,
            locale=locale_of(interaction),
        )
        await interaction.response.send_message(text, view=view, ephemeral=True)

    async def _animators(self, interaction: discord.Interaction) -> list[Model]:
        """Video models that take one image as their start, allowed in this server."""
        config = await self.services.queries.guild_config(interaction.guild_id or 0)
        found = [
            model
            for model in self.catalog.enabled("video")
            if takes_images(model, 1) and config.model_offered(model.id)  # allowed, not paused
        ]
        return found[:MAX_OPTIONS]

    # -- Info, Delete ------------------------------------------------------------------------

    async def info(self, interaction: discord.Interaction, job: Job) -> None:
        locale = locale_of(interaction)
        model = self.catalog.get(job.model) if job.model in self.catalog else None
        prompt = escape_markdown(" ".join(job.prompt.split()))
        embed = discord.Embed(
            title=t(locale, "Job #{job_id}", job_id=job.id),
            description=prompt[:1000],
            colour=INFO_COLOUR,
        )
        label = model.label if model is not None else job.model
        embed.add_field(name=t(locale, "Model"), value=f"{label}\n`{job.model}`")
        embed.add_field(
            name=t(locale, "Options"), value=options_text(job.options, job.image_urls, locale)
        )
        embed.add_field(name=t(locale, "Cost"), value=cost_text(job, locale))
        embed.add_field(name=t(locale, "Requested by"), value=f"<@{job.user_id}>")
        embed.add_field(name=t(locale, "Created"), value=f"<t:{int(job.created_at)}:f>")
        if job.parent_job_id is not None:
            embed.add_field(
                name=t(locale, "Made from"),
                value=f"{job.action or 'remix'} · #{job.parent_job_id}",
            )
        embed.add_field(name=t(locale, "State"), value=state_text(job, locale)[:1024], inline=False)
        footer = t(locale, "Job #{job_id}", job_id=job.id)
        if job.task_id:
            footer += " · " + t(locale, "Max API task {task_id}", task_id=job.task_id)
        embed.set_footer(text=footer)
        await reply(interaction, embed=embed)

    async def delete(self, interaction: discord.Interaction, job: Job) -> None:
        """Delete the clicked result message (every part of the result, when it is the
        delivery itself). Only the job's own messages (its result, its card) are deleted,
        whatever the click claims. The job stays: ``/show`` can post it again."""
        locale = locale_of(interaction)
        if not can_manage(
            job,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            moderator=can_manage_jobs(interaction, job.channel_id),
        ):
            raise NotAllowed(
                t(
                    locale,
                    "Only the member who made job #{job_id} or a moderator can delete it.",
                    job_id=job.id,
                )
            )
        message = interaction.message
        clicked = message.id if message is not None else None
        if clicked is None or clicked not in [*job.result_message_ids, job.progress_message_id]:
            raise NotAllowed(
                t(locale, "This message is not one of job #{job_id}'s.", job_id=job.id)
            )
        ids = [clicked]
        if clicked in job.result_message_ids:
            ids += [m for m in job.result_message_ids if m != clicked]
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel: Any = interaction.channel
        for message_id in ids:
            try:
                await channel.get_partial_message(message_id).delete()
            except discord.NotFound:
                continue  # already gone
        log.info("job %s: result deleted by %s", job.id, interaction.user.id)
        await reply(interaction, t(locale, "Deleted the result of job #{job_id}.", job_id=job.id))


async def setup(bot: AtelierBot) -> None:
    bot.add_dynamic_items(JobButton)
    await bot.add_cog(JobButtons(bot))
