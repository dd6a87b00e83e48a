"""Message commands "Edit with Atelier" and "Animate with Atelier": any message's images
(attachments, then embeds) become the input of a new job charged to the member.

A modal asks for the prompt (required for Edit; optional for Animate, where an empty
prompt becomes "Animate this image"), a private select for the model; the job starts
through ``launch``, so every limit applies."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.command_specs import price_hint
from bot.discord_io.launch import is_nsfw, launch
from bot.discord_io.ui import GuardedView, handle_error, locale_of
from bot.domain.catalog import GenerationRequest, Media, Model
from bot.domain.errors import UserFacingError
from bot.services.message_images import FileRef, first_images, message_image_urls, takes_images
from bot.text.confirmation import picked_text
from bot.text.i18n import t

log = logging.getLogger(__name__)

PICKER_TIMEOUT = 300.0
MAX_OPTIONS = 25
DEFAULT_MOTION = "Animate this image"


class PromptModal(discord.ui.Modal):
    """The prompt, then the model picker."""

    def __init__(self, cog: MessageCommands, media: Media, urls: list[str], locale: str) -> None:
        title = "Edit with Atelier" if media == "image" else "Animate with Atelier"
        super().__init__(title=t(locale, title), timeout=PICKER_TIMEOUT)
        self.cog, self.media, self.urls = cog, media, urls
        self.prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=t(locale, "Prompt" if media == "image" else "Motion (optional)"),
            style=discord.TextStyle.paragraph,
            required=media == "image",
            max_length=4000,
            custom_id="prompt",
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        prompt = self.prompt.value.strip()
        if not prompt and self.media == "image":
            raise UserFacingError("Write a prompt: it says what to change in the image.")
        await self.cog.pick_model(interaction, self.media, prompt or DEFAULT_MOTION, self.urls)

    async def on_error(self, interaction: discord.Interaction, error: Exception, *_: Any) -> None:
        await handle_error(interaction, error)


class ModelPicker(GuardedView):
    """Private: which model takes the message's images."""

    def __init__(
        self, cog: MessageCommands, prompt: str, urls: list[str], models: list[Model], locale: str
    ) -> None:
        super().__init__(timeout=PICKER_TIMEOUT)
        self.cog, self.prompt, self.urls, self.locale = cog, prompt, urls, locale
        self.models = {m.id: m for m in models}
        self.opener: discord.Interaction | None = None
        self.select: discord.ui.Select[Any] = discord.ui.Select(
            placeholder=t(locale, "Pick a model"),
            options=[
                discord.SelectOption(
                    label=m.label[:100], value=m.id, description=f"{m.id} · {price_hint(m)}"[:100]
                )
                for m in models[:MAX_OPTIONS]
            ],
        )
        self.select.callback = self._chosen  # type: ignore[method-assign]
        self.add_item(self.select)

    async def _chosen(self, interaction: discord.Interaction) -> None:
        model = self.models[self.select.values[0]]
        used = first_images(model, self.urls)
        request = GenerationRequest(
            model=model.id,
            prompt=self.prompt,
            image_urls=used,
            nsfw_channel=is_nsfw(interaction.channel),
        )
        job = await launch(self.cog.bot.services, interaction, request)
        self.stop()
        text = picked_text(job, self.locale)
        if len(used) < len(self.urls):
            text += " " + t(
                self.locale,
                "Used the first {used} of {total} images: {model} takes at most {used}.",
                used=len(used),
                total=len(self.urls),
                model=model.label,
            )
        if self.opener is not None:
            try:
                await self.opener.edit_original_response(content=text, view=None)
            except discord.HTTPException as exc:
                log.info("job %s: could not close the picker: %s", job.id, exc)

    async def on_timeout(self) -> None:
        if self.opener is not None:
            with contextlib.suppress(discord.HTTPException):
                await self.opener.edit_original_response(
                    content=t(self.locale, "This choice expired: run the command again."),
                    view=None,
                )


class MessageCommands(commands.Cog):
    """The two message commands."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.menus = [
            app_commands.ContextMenu(name="Edit with Atelier", callback=self.edit),
            app_commands.ContextMenu(name="Animate with Atelier", callback=self.animate),
        ]
        for menu in self.menus:
            menu.guild_only = True
            bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    async def edit(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self._ask(interaction, message, "image")

    async def animate(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await self._ask(interaction, message, "video")

    async def _ask(
        self, interaction: discord.Interaction, message: discord.Message, media: Media
    ) -> None:
        files = [FileRef(a.filename, a.content_type, a.url) for a in message.attachments]
        urls = message_image_urls(files, [e.to_dict() for e in message.embeds])
        if not urls:
            raise UserFacingError("This message has no image to use.")
        await self._models(interaction, media, len(urls))  # refuse before the modal
        await interaction.response.send_modal(
            PromptModal(self, media, urls, locale_of(interaction))
        )

    async def _models(
        self, interaction: discord.Interaction, media: Media, count: int
    ) -> list[Model]:
        config = await self.bot.services.queries.guild_config(interaction.guild_id or 0)
        found = [
            m
            for m in self.bot.services.catalog.enabled(media)
            if takes_images(m, count) and config.model_offered(m.id)
        ]
        if not found:
            raise UserFacingError(
                "No image model that starts from an image is enabled here."
                if media == "image"
                else "No video model that starts from an image is enabled here."
            )
        return found[:MAX_OPTIONS]

    async def pick_model(
        self, interaction: discord.Interaction, media: Media, prompt: str, urls: list[str]
    ) -> None:
        locale = locale_of(interaction)
        models = await self._models(interaction, media, len(urls))
        view = ModelPicker(self, prompt, urls, models, locale)
        view.opener = interaction
        text = t(
            locale,
            "Pick the model for {count} image(s) from this message.",
            count=len(urls),
        )
        await interaction.response.send_message(text, view=view, ephemeral=True)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(MessageCommands(bot))
