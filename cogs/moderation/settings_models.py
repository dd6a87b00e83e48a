"""``/settings models set|pause|resume``: default and allowed models, pausing one."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.domain.catalog import Media
from bot.services import model_switch
from bot.services.guild_settings import split_ids

from ._common import SettingsMixin, model_choices
from ._groups import SETTINGS


class ModelSettings(SettingsMixin):
    """Mixed into :class:`.settings.SettingsCommands`."""

    models = app_commands.Group(
        name="models", description="Which models members can use in this server", parent=SETTINGS
    )

    @models.command(name="set", description="Default models and which models are allowed")
    @app_commands.describe(
        image_default='Default image model ("default": the built-in one)',
        video_default='Default video model ("default": the built-in one)',
        allowed='Allowed model ids, comma-separated ("all": every model)',
    )
    async def models_set(
        self,
        interaction: discord.Interaction,
        image_default: app_commands.Range[str, 1, 100] | None = None,
        video_default: app_commands.Range[str, 1, 100] | None = None,
        allowed: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        guild_id, actor_id, _ = await self.as_moderator(interaction)
        change = await self.guild_settings.set_models(
            guild_id,
            actor_id,
            image_default=image_default,
            video_default=video_default,
            allowed=allowed,
        )
        await self.changed(interaction, change)

    @models.command(name="pause", description="Stop members starting jobs with a model here")
    @app_commands.describe(
        model="The model to pause (jobs already running finish)",
        reason="Why: members read it when they are refused",
    )
    async def models_pause(
        self,
        interaction: discord.Interaction,
        model: app_commands.Range[str, 1, 100],
        reason: app_commands.Range[str, 1, model_switch.MAX_REASON_CHARS] | None = None,
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        change = await model_switch.pause(
            self.guild_settings, guild_id, actor_id, model, reason, locale
        )
        await self.changed(interaction, change)

    @models.command(name="resume", description="Let members use a paused model again")
    @app_commands.describe(model="The paused model")
    async def models_resume(
        self, interaction: discord.Interaction, model: app_commands.Range[str, 1, 100]
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        change = await model_switch.resume(self.guild_settings, guild_id, actor_id, model, locale)
        await self.changed(interaction, change)

    # -- autocomplete ---------------------------------------------------------------------

    def default_choices(self, media: Media, current: str) -> list[app_commands.Choice[str]]:
        return model_choices(
            self.bot.services.catalog, media, current, default="default (built-in)"
        )

    @models_set.autocomplete("image_default")
    async def image_default_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.default_choices("image", str(current))

    @models_set.autocomplete("video_default")
    async def video_default_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.default_choices("video", str(current))

    @models_set.autocomplete("allowed")
    async def allowed_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Complete the last id of the comma-separated list."""
        text = str(current)
        head, _, last = text.rpartition(",")
        prefix = f"{head}, " if head else ""
        chosen = set(split_ids(head))
        typed = last.strip().lower()
        out = []
        for m in self.bot.services.catalog.enabled():
            if m.id in chosen or typed not in m.id.lower():
                continue
            value = f"{prefix}{m.id}"
            if len(value) <= 100:
                out.append(app_commands.Choice(name=value, value=value))
        return out[:25]

    async def paused_here(self, interaction: discord.Interaction) -> dict[str, str]:
        if interaction.guild_id is None:
            return {}
        return (await self.guild_settings.guild_config(interaction.guild_id)).paused_models

    @models_pause.autocomplete("model")
    async def pause_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The enabled models not paused yet."""
        paused = await self.paused_here(interaction)
        typed = str(current).strip().lower()
        return [
            app_commands.Choice(name=f"{m.label} ({m.id})"[:100], value=m.id)
            for m in self.bot.services.catalog.enabled()
            if m.id not in paused and (typed in m.id.lower() or typed in m.label.lower())
        ][:25]

    @models_resume.autocomplete("model")
    async def resume_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The models paused in this server, with their reasons."""
        typed = str(current).strip().lower()
        return [
            app_commands.Choice(name=(f"{m} — {why}" if why else m)[:100], value=m)
            for m, why in sorted((await self.paused_here(interaction)).items())
            if typed in m.lower()
        ][:25]
