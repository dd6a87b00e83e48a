"""Starting a job from an interaction: the one path for commands and result buttons.

The job is accepted and its progress card sent as the answer before anything goes to Max API.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_io import confirm_prompt
from bot.discord_io.card_answer import follow_and_submit, send_card
from bot.discord_io.link_refresh import with_fresh_links
from bot.discord_io.ui import locale_of
from bot.domain.catalog import GenerationRequest
from bot.domain.errors import MissingBotPermissions
from bot.domain.job import Job
from bot.services.jobs import Requester
from bot.text.i18n import t

if TYPE_CHECKING:
    from bot.discord_io.client import Services

log = logging.getLogger(__name__)

#: What the bot needs where a job runs: the card, the result files, the buttons.
NEEDED = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, attach_files=True
)
PERMISSION_NAMES = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
}


def check_bot_permissions(interaction: discord.Interaction) -> None:
    """Refuse before accepting a paid job the bot could not post here: answering an
    interaction can succeed where a later channel message is refused."""
    have = interaction.app_permissions
    if have >= NEEDED:  # one bit-mask compare for every needed permission
        return
    locale = locale_of(interaction)
    missing = [
        t(locale, PERMISSION_NAMES[name])
        for name, wanted in NEEDED
        if wanted and not getattr(have, name)
    ]
    if missing:
        raise MissingBotPermissions(
            t(
                locale,
                "I need {permissions} in this channel to post results. Ask a moderator to "
                "grant them, or use another channel. Nothing was charged.",
                permissions=t(locale, ", ").join(missing),
            )
        )


def age_restricted(channel: Any) -> bool | None:
    """Whether ``channel`` is age-restricted (a thread: its parent); ``None`` when unknown,
    as for a thread whose parent is not cached or a partial channel."""
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    check = getattr(channel, "is_nsfw", None)
    return bool(check()) if callable(check) else None


def is_nsfw(channel: Any) -> bool:
    """Whether ``channel`` is known to be age-restricted."""
    return bool(age_restricted(channel))


def requester_of(interaction: discord.Interaction) -> Requester:
    user = interaction.user
    roles = tuple(r.id for r in user.roles) if isinstance(user, discord.Member) else ()
    channel_id = interaction.channel_id
    assert channel_id is not None
    return Requester(
        guild_id=interaction.guild_id,
        channel_id=channel_id,
        user_id=user.id,
        locale=locale_of(interaction),
        application_id=interaction.application_id,
        interaction_token=interaction.token,
        interaction_expires_at=interaction.expires_at.timestamp(),
        interaction_id=interaction.id,
        role_ids=roles,
        age_restricted=age_restricted(interaction.channel),
    )


async def launch(
    services: Services,
    interaction: discord.Interaction,
    request: GenerationRequest,
    *,
    parent_job_id: int | None = None,
    action: str | None = None,
) -> Job:
    """Accept a job, answer ``interaction`` with its progress card, then submit it.

    The one way a job starts (commands, Reroll, Variations, Animate); a refusal raises
    before anything is recorded."""
    check_bot_permissions(interaction)
    # Max API fetches the images later: renew Discord links that expire before then.
    request = await with_fresh_links(
        interaction.client, request, now=services.link_clock(), locale=locale_of(interaction)
    )
    job = await services.jobs.accept(
        request, requester_of(interaction), parent_job_id=parent_job_id, action=action
    )
    if job.confirm_by is not None:  # above the server's threshold: held until Confirm
        return await confirm_prompt.ask(services, interaction, job)
    answer = await send_card(services, interaction, job, why="the answer to the interaction failed")
    job = await follow_and_submit(services, interaction, job, answer)
    log.info(
        "job %s accepted: %s by %s in %s%s",
        job.id,
        job.model,
        job.user_id,
        job.channel_id,
        f" ({action} of #{parent_job_id})" if action else "",
    )
    return job
