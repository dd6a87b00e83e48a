"""Shared Discord UI pieces: the one error path, reply helpers, custom ids.

Errors raised in slash commands reach :meth:`AtelierTree.on_error`; errors in views
and dynamic buttons do not (discord.py routes them elsewhere), so those call
:func:`handle_error` themselves (``View.on_error``, or :func:`guarded` around a
``DynamicItem`` callback). Every path ends in the same place: known errors become a
short ephemeral embed that says what to do, anything else an apology with the job
id and a logged traceback.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.catalog import ValidationError
from bot.domain.errors import NOT_SERVED, DuplicateInteraction, UserFacingError
from bot.domain.prompt import broken_character
from bot.text.i18n import t, t_fields
from bot.text.job_pages import MAX_BUTTONS, cancel_label
from bot.text.markdown import escape_markdown

log = logging.getLogger(__name__)

ERROR_COLOUR = discord.Colour.red()
OK_COLOUR = discord.Colour.green()
INFO_COLOUR = discord.Colour.blurple()

#: ``atelier:<action>:<job id>``: the custom id of every job button (≤ 100 chars).
CUSTOM_ID = re.compile(r"atelier:(?P<action>[a-z]+):(?P<job_id>[0-9]+)")
#: Unknown interaction, unknown webhook, invalid webhook token.
DEAD_INTERACTION_CODES = frozenset({10062, 10015, 50027})
ACTIONS = (
    "cancel",
    "reroll",
    "remix",
    "vary",
    "animate",
    "info",
    "delete",
    "report",
    "keep",
    "remove",
    "confirm",
    "upscale",
)
BROKEN_OPTION = (
    "The option “{option}” holds a broken character (such as half of an emoji). "
    "Retype it and try again."
)

#: A member's prompt quoted in a notice: at most this many characters.
PROMPT_SHOWN = 80

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
CogT = TypeVar("CogT", bound=commands.Cog)


def custom_id(action: str, job_id: int) -> str:
    if action not in ACTIONS:
        raise ValueError(f"unknown job action {action!r}")
    return f"atelier:{action}:{job_id}"


def locale_of(interaction: discord.Interaction) -> str:
    """The member's client language (``en-US``, ``zh-CN`` …), for :func:`bot.text.i18n.t`."""
    return str(interaction.locale)


def is_moderator(interaction: discord.Interaction) -> bool:
    """Moderator rights over configuration and cost (/limits, /block, /settings, other
    members' usage): Manage Server, checked at run time (``default_permissions`` is only
    a default that server admins can override)."""
    return bool(interaction.permissions.manage_guild)


def can_manage_jobs(interaction: discord.Interaction, channel_id: int) -> bool:
    """Content moderation over other members' jobs (cancel, delete a result, re-show):
    Manage Server, or Manage Messages in the job's own channel ``channel_id``, not in
    whichever channel the command happens to run in."""
    if interaction.permissions.manage_guild:
        return True
    return permissions_in(interaction, channel_id).manage_messages


def permissions_in(interaction: discord.Interaction, channel_id: int) -> discord.Permissions:
    """The caller's permissions in a channel of this server: Discord's own for the
    interaction's channel, else computed from the cache (roles and overwrites). A channel
    not cached, or a private thread without Manage Threads, gives none (fail closed)."""
    if channel_id == interaction.channel_id:
        return interaction.permissions
    guild, member = interaction.guild, interaction.user
    if guild is None or not isinstance(member, discord.Member):
        return discord.Permissions.none()
    channel = guild.get_channel_or_thread(channel_id)
    if channel is None:
        return discord.Permissions.none()
    try:
        found = channel.permissions_for(member)
    except discord.ClientException:  # a thread whose parent is not cached
        return discord.Permissions.none()
    private = isinstance(channel, discord.Thread) and channel.is_private()
    if private and not found.manage_threads:
        return discord.Permissions.none()  # its members are not known to the bot
    return found


def error_embed(title: str, message: str) -> discord.Embed:
    return discord.Embed(title=title, description=message[:4000], colour=ERROR_COLOUR)


async def reply(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    ephemeral: bool = True,
    view: discord.ui.View | None = None,
) -> None:
    """Answer, or follow up if the interaction was already answered or deferred."""
    kwargs: dict[str, Any] = {
        "content": content,
        "ephemeral": ephemeral,
        "allowed_mentions": discord.AllowedMentions.none(),
    }
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


def describe_error(error: BaseException, locale: str | None = None) -> tuple[str, str] | None:
    """(title, message) for errors a member should see, in ``locale``; ``None`` for bugs.

    A message raised as an English template is translated before its fields go in; one
    already translated where it was raised passes through unchanged."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        error = error.__cause__ or error
    if isinstance(error, UserFacingError | ValidationError):
        title = error.title if isinstance(error, UserFacingError) else "Can't do that"
        message = t(locale, error.template, **t_fields(locale, error.fields))
        return t(locale, title), message
    if isinstance(error, app_commands.TransformerError):
        # An option value a real client would not send (too long, out of range).
        return t(locale, "Can't do that"), t(
            locale,
            "One of the options has a value this command does not accept "
            "(too long, or out of range). Check it and try again.",
        )
    if isinstance(error, UnicodeEncodeError) and "surrogate" in str(error):
        # A text input (a modal's) with half of an emoji reached an encoder: not a bug.
        return t(locale, "Can't do that"), t(
            locale,
            "Your text holds a broken character (such as half of an emoji). "
            "Retype it and try again.",
        )
    if isinstance(error, app_commands.MissingPermissions | app_commands.CheckFailure):
        return t(locale, "Not allowed"), t(locale, "You don't have the rights for this command.")
    if isinstance(error, app_commands.CommandOnCooldown):
        return t(locale, "Slow down"), t(
            locale, "Try again in {seconds} s.", seconds=f"{error.retry_after:.0f}"
        )
    return None


async def handle_error(
    interaction: discord.Interaction, error: BaseException, *, job_id: int | None = None
) -> None:
    """The one error path for commands, views and dynamic buttons."""
    cause = error.__cause__ if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(cause, discord.NotFound) and cause.code in DEAD_INTERACTION_CODES:
        # The interaction itself is gone (answered too late, token expired): there is
        # nobody to tell, and every further call would fail the same way.
        log.warning("interaction expired before it could be answered: %s", cause)
        return
    if isinstance(cause, DuplicateInteraction):
        # Another session received the same interaction and answered it with the job.
        log.info("interaction %s already has its job; left to the session that has it", cause)
        return
    locale = locale_of(interaction)
    known = describe_error(error, locale)
    if known is not None:
        title, message = known
    else:
        where = interaction.command.qualified_name if interaction.command else "component"
        log.error("unexpected error in %s (job %s)", where, job_id, exc_info=error)
        title = t(locale, "Something went wrong")
        if job_id is not None:
            message = t(
                locale,
                "Sorry — that failed on our side (job #{job_id}). Nothing was charged. "
                "Try again; if it keeps happening, tell a moderator.",
                job_id=job_id,
            )
        else:
            message = t(
                locale,
                "Sorry — that failed on our side. Nothing was charged. "
                "Try again; if it keeps happening, tell a moderator.",
            )
    try:
        await reply(interaction, embed=error_embed(title, message))
    except discord.HTTPException:
        log.warning("could not tell the member about an error", exc_info=True)
    if known is not None:
        await audit_refusal(interaction, error)


async def audit_refusal(interaction: discord.Interaction, error: BaseException) -> None:
    """Store a refusal that was not stored where it was raised (bad attachments, missing
    bot permissions, invalid options …): every refusal is audited. After the answer,
    so the member never waits on it; a failure here is only logged."""
    cause = error.__cause__ if isinstance(error, app_commands.CommandInvokeError) else error
    if cause is None or getattr(cause, "audited", False):
        return
    services = getattr(interaction.client, "services", None)
    if services is None:
        return
    command = interaction.command.qualified_name if interaction.command else "component"
    try:
        await services.audit.refused(
            interaction.guild_id,
            interaction.user.id,
            f"/{command}",
            str(cause),
            type(cause).__name__,
        )
    except Exception:
        log.exception("could not store a refusal in the audit log")


def broken_option(data: Any) -> str | None:
    """The name of the first option whose text holds an unpaired surrogate (half of an
    emoji: no database, log or JSON encoder takes it), subcommands included."""
    options = data.get("options") if isinstance(data, dict) else None
    for option in options if isinstance(options, list) else ():
        if not isinstance(option, dict):
            continue
        value = option.get("value")
        if isinstance(value, str) and broken_character(value) is not None:
            return str(option.get("name"))
        if (inner := broken_option(option)) is not None:
            return inner
    return None


async def refuse_broken(interaction: discord.Interaction) -> bool:
    """Refuse a command whose option text is broken (autocomplete: no choices)."""
    if interaction.type is discord.InteractionType.autocomplete:
        await interaction.response.autocomplete([])
        return False
    option = broken_option(interaction.data)
    await handle_error(interaction, UserFacingError(BROKEN_OPTION, option=option))
    return False


class AtelierTree(app_commands.CommandTree[Any]):
    """The bot's command tree: one error handler for every slash command, and no command
    at all in a server the operator did not allow (``ALLOWED_GUILD_IDS``)."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if broken_option(interaction.data) is not None:  # it could reach no store or log
            return await refuse_broken(interaction)
        services = getattr(self.client, "services", None)
        allowed = services.settings.allowed_guild_ids if services is not None else None
        if allowed is None or interaction.guild_id in allowed:
            return True
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
            return False
        locale = locale_of(interaction)
        await reply(interaction, embed=error_embed(t(locale, "Not allowed"), t(locale, NOT_SERVED)))
        return False

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await handle_error(interaction, error)


class GuardedView(discord.ui.View):
    """A view whose callback errors take the common error path."""

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await handle_error(interaction, error)


def guarded(callback: F) -> F:
    """Wrap a ``DynamicItem.callback`` so its errors take the common path (they never
    reach the tree's handler). The item's ``job_id`` is named in the apology."""

    @functools.wraps(callback)
    async def wrapper(self: Any, interaction: discord.Interaction, *args: Any) -> Any:
        try:
            return await callback(self, interaction, *args)
        except Exception as exc:
            await handle_error(interaction, exc, job_id=getattr(self, "job_id", None))
            return None

    return wrapper  # type: ignore[return-value]


def running_cog(interaction: discord.Interaction, kind: type[CogT]) -> CogT:
    """The loaded cog that answers a persistent button or form; a click that arrives
    before it is loaded is told to try again."""
    cog = interaction.client.get_cog(kind.__cog_name__)  # type: ignore[attr-defined]
    if not isinstance(cog, kind):
        raise UserFacingError("Atelier is starting up. Try again in a minute.")
    return cog


def cancel_buttons(job_ids: tuple[int, ...], locale: str | None) -> discord.ui.View | None:
    """Up to 25 Cancel buttons, five to a row. The view is stopped before it is sent:
    the persistent ``atelier:cancel:<id>`` handler answers the clicks, after a restart
    too, so discord.py must not route them to this short-lived view as well."""
    if not job_ids:
        return None
    view = discord.ui.View(timeout=None)
    for index, job_id in enumerate(job_ids[:MAX_BUTTONS]):
        view.add_item(
            discord.ui.Button(
                label=cancel_label(job_id, locale),
                style=discord.ButtonStyle.danger,
                custom_id=custom_id("cancel", job_id),
                row=index // 5,
            )
        )
    view.stop()
    return view


def shown_prompt(prompt: str) -> str:
    """``prompt`` cut to :data:`PROMPT_SHOWN` characters, markdown and mentions escaped,
    so no link or mention of the member's renders where it is quoted."""
    if len(prompt) > PROMPT_SHOWN:
        prompt = prompt[: PROMPT_SHOWN - 1] + "…"
    return discord.utils.escape_mentions(escape_markdown(prompt))


async def channel_of(client: discord.Client, channel_id: int) -> Any:
    """The channel from the cache, else fetched from Discord (may raise ``HTTPException``)."""
    return client.get_channel(channel_id) or await client.fetch_channel(channel_id)


def job_buttons(
    job_id: int, buttons: tuple[tuple[str, str, discord.ButtonStyle], ...], locale: str | None
) -> discord.ui.View:
    """One button per ``(action, label, style)``, ``atelier:<action>:<job id>``, label in
    ``locale``. Layout only: the view is stopped, the persistent handlers answer the
    clicks (after a restart too)."""
    view = discord.ui.View(timeout=None)
    for action, label, style in buttons:
        view.add_item(
            discord.ui.Button(
                label=t(locale, label), style=style, custom_id=custom_id(action, job_id)
            )
        )
    view.stop()
    return view
