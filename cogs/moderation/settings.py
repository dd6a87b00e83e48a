"""``/settings show | audit | budget``, ``/settings channels allow|deny|remove|all``,
``/settings words add|remove|list`` and ``/settings exempt add|remove`` (``/settings models``
is in :mod:`.settings_models`)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.discord_io.client import AtelierBot
from bot.discord_io.ui import INFO_COLOUR, OK_COLOUR, locale_of, reply
from bot.domain.catalog import Media
from bot.domain.errors import UserFacingError
from bot.domain.guild_config import GuildConfig
from bot.domain.word_filter import MAX_PATTERNS, inactive
from bot.services.guild_settings import Change, ChannelAction
from bot.services.model_switch import paused_text
from bot.text import usage_report as report
from bot.text.confirmation import threshold_text
from bot.text.i18n import t

from ._common import ModeratorCog
from ._groups import CHANNELS, SETTINGS
from .settings_content import ContentSettings, adult_text, spoiler_text
from .settings_defaults import DefaultsSettings
from .settings_models import ModelSettings


class SettingsCommands(ModelSettings, DefaultsSettings, ContentSettings, ModeratorCog):
    settings = SETTINGS
    channels = CHANNELS
    words = app_commands.Group(
        name="words", description="Words and patterns refused in prompts", parent=settings
    )
    exempt = app_commands.Group(
        name="exempt", description="Roles that skip the member limits", parent=settings
    )

    def __init__(self, bot: AtelierBot) -> None:
        super().__init__(bot)
        self.guild_settings = bot.services.guild_settings

    # -- showing ---------------------------------------------------------------------

    @settings.command(name="show", description="Everything Atelier is set to in this server")
    async def settings_show(self, interaction: discord.Interaction) -> None:
        guild_id, _, locale = await self.as_moderator(interaction)
        config = await self.guild_settings.guild_config(guild_id)
        await reply(interaction, embed=self.settings_embed(config, locale))

    def settings_embed(self, config: GuildConfig, locale: str) -> discord.Embed:
        """Every setting of the server, for ``/settings show`` and after each change."""
        catalog = self.bot.services.catalog
        embed = discord.Embed(title=t(locale, "Atelier settings"), colour=INFO_COLOUR)

        def model_text(chosen: str | None, media: Media) -> str:
            if chosen:
                return f"`{chosen}`"
            try:
                fallback = catalog.default_model(media)
            except ValueError:
                fallback = "—"
            return t(locale, "built-in (`{model}`)", model=fallback)

        def usd(budget: float | None) -> str:
            return t(locale, "none") if budget is None else report.money(budget)

        image = model_text(config.default_image_model, "image")
        video = model_text(config.default_video_model, "video")
        allowed = ", ".join(f"`{m}`" for m in sorted(config.allowed_models))[:1024]
        exempt = " ".join(f"<@&{r}>" for r in sorted(config.exempt_role_ids))[:1024]
        audit = f"<#{config.audit_channel_id}>" if config.audit_channel_id else t(locale, "off")
        words = t(locale, "{n} entries (/settings words list)", n=len(config.banned_words))
        styles = len(config.styles)
        budget = t(
            locale,
            "daily {daily}, monthly {monthly}; days start at {hour:02d}:00 UTC",
            daily=usd(config.daily_budget_usd),
            monthly=usd(config.monthly_budget_usd),
            hour=config.rollover_hour_utc,
        )
        for name, value, inline in (
            (t(locale, "Default image model"), image, True),
            (t(locale, "Default video model"), video, True),
            (t(locale, "Allowed models"), allowed or t(locale, "every model"), False),
            (t(locale, "Paused models"), paused_text(config, locale), False),
            (t(locale, "Channels"), report.channels_text(config, locale), True),
            (t(locale, "Channel defaults"), self.channel_defaults_text(config, locale), False),
            (t(locale, "House styles"), t(locale, "{n} (/settings styles list)", n=styles), True),
            (t(locale, "Banned words"), words, True),
            (t(locale, "Audit channel"), audit, True),
            (t(locale, "Budget"), budget, False),
            (t(locale, "Confirm first"), threshold_text(config.confirm_above_usd, locale), True),
            (t(locale, "Exempt roles"), exempt or t(locale, "none"), False),
            (t(locale, "Spoiler channels"), spoiler_text(config, locale), True),
            (t(locale, "Adult content"), adult_text(config, locale), True),
        ):
            embed.add_field(name=name, value=value, inline=inline)
        return embed

    async def changed(self, interaction: discord.Interaction, change: Change) -> None:
        """Answer a settings change with the new settings, the change on top."""
        embed = self.settings_embed(change.config, locale_of(interaction))
        embed.description = change.summary
        embed.colour = OK_COLOUR
        await reply(interaction, embed=embed)

    # -- channels --------------------------------------------------------------------

    async def set_channels(
        self,
        interaction: discord.Interaction,
        action: ChannelAction,
        channel: discord.abc.GuildChannel | None = None,
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        channel_id = channel.id if channel is not None else None
        change = await self.guild_settings.set_channels(
            guild_id, actor_id, action, channel_id, locale
        )
        await self.changed(interaction, change)

    @channels.command(name="allow", description="Allow Atelier in this channel only (add more)")
    @app_commands.describe(channel="A channel where Atelier may be used")
    async def channels_allow(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        await self.set_channels(interaction, "allow", channel)

    @channels.command(name="deny", description="Refuse Atelier in this channel (add more)")
    @app_commands.describe(channel="A channel where Atelier may not be used")
    async def channels_deny(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        await self.set_channels(interaction, "deny", channel)

    @channels.command(name="remove", description="Take a channel off the allow or deny list")
    @app_commands.describe(channel="The channel to take off the list")
    async def channels_remove(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        await self.set_channels(interaction, "remove", channel)

    @channels.command(name="all", description="Allow Atelier in every channel")
    async def channels_all(self, interaction: discord.Interaction) -> None:
        await self.set_channels(interaction, "all")

    # -- words -----------------------------------------------------------------------

    @words.command(name="add", description="Refuse prompts with these words (comma-separated)")
    @app_commands.describe(words="Words or phrases, comma-separated; /regex/ for a pattern")
    async def words_add(
        self, interaction: discord.Interaction, words: app_commands.Range[str, 1, 1000]
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        change = await self.guild_settings.add_words(guild_id, actor_id, words, locale)
        if change is None:
            await reply(interaction, t(locale, "All of these are on the list already."))
        else:
            await self.changed(interaction, change)

    @words.command(name="remove", description="Take words off the list (comma-separated)")
    @app_commands.describe(words="The entries to remove, comma-separated")
    async def words_remove(
        self, interaction: discord.Interaction, words: app_commands.Range[str, 1, 1000]
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        change = await self.guild_settings.remove_words(guild_id, actor_id, words, locale)
        await self.changed(interaction, change)

    @words.command(name="list", description="The words and patterns refused in prompts")
    async def words_list(self, interaction: discord.Interaction) -> None:
        guild_id, _, locale = await self.as_moderator(interaction)
        config = await self.guild_settings.guild_config(guild_id)
        if not config.banned_words:
            await reply(
                interaction, t(locale, "The list is empty. Add entries with /settings words add.")
            )
            return
        unused = set(inactive(config.banned_words))
        marker = " " + t(locale, "(not active)")
        text = ", ".join(f"`{w}`" + (marker if w in unused else "") for w in config.banned_words)
        if len(text) > 4000:
            text = text[:3990].rsplit(",", 1)[0] + ", …"
        embed = discord.Embed(
            title=t(locale, "Banned words ({n})", n=len(config.banned_words)),
            description=text,
            colour=INFO_COLOUR,
        )
        if unused:
            embed.set_footer(
                text=t(
                    locale,
                    "Entries marked (not active) are not checked: patterns Atelier can't "
                    "check quickly, or past the first {n} patterns. Remove them, and add "
                    "them back rewritten.",
                    n=MAX_PATTERNS,
                )
            )
        await reply(interaction, embed=embed)

    # -- audit channel, budget, exempt roles -------------------------------------------

    @settings.command(name="audit", description="Where moderator actions and refusals are posted")
    @app_commands.describe(channel="The audit channel (leave out to turn posting off)")
    async def settings_audit(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        if channel is not None:
            me = channel.guild.me
            perms = channel.permissions_for(me) if me is not None else None
            if perms is not None and not (perms.view_channel and perms.send_messages):
                raise UserFacingError(
                    "I can't post in {channel} (I need View Channel and Send Messages).",
                    channel=channel.mention,
                )
        channel_id = channel.id if channel is not None else None
        change = await self.guild_settings.set_audit_channel(guild_id, actor_id, channel_id, locale)
        await self.changed(interaction, change)

    @settings.command(name="budget", description="The server's spending budgets and day start")
    @app_commands.describe(
        daily_usd="Budget a day in USD for the whole server (-1: none)",
        monthly_usd="Budget a month in USD (-1: none)",
        rollover_hour="The UTC hour a new day starts for limits and budgets",
        confirm_above_usd="Jobs estimated above this many USD ask to confirm first (0: never)",
    )
    async def settings_budget(
        self,
        interaction: discord.Interaction,
        daily_usd: app_commands.Range[float, -1.0, 1_000_000.0] | None = None,
        monthly_usd: app_commands.Range[float, -1.0, 10_000_000.0] | None = None,
        rollover_hour: app_commands.Range[int, 0, 23] | None = None,
        confirm_above_usd: app_commands.Range[float, 0.0, 10_000.0] | None = None,
    ) -> None:
        guild_id, actor_id, _ = await self.as_moderator(interaction)
        change = await self.guild_settings.set_budget(
            guild_id,
            actor_id,
            daily_usd=daily_usd,
            monthly_usd=monthly_usd,
            rollover_hour=rollover_hour,
            confirm_above_usd=confirm_above_usd,
        )
        await self.changed(interaction, change)

    async def set_exempt(
        self, interaction: discord.Interaction, role: discord.Role, *, add: bool
    ) -> None:
        guild_id, actor_id, locale = await self.as_moderator(interaction)
        change = await self.guild_settings.set_exempt(
            guild_id, actor_id, role.id, add=add, everyone=role.is_default(), locale=locale
        )
        await self.changed(interaction, change)

    @exempt.command(name="add", description="Members with this role skip the member limits")
    @app_commands.describe(role="The role to exempt")
    async def exempt_add(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await self.set_exempt(interaction, role, add=True)

    @exempt.command(name="remove", description="This role follows the member limits again")
    @app_commands.describe(role="The role to stop exempting")
    async def exempt_remove(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await self.set_exempt(interaction, role, add=False)
