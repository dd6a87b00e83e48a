"""Tell a member, in their job's channel, that a moderator refunded the job.

In the channel rather than by DM: many members close DMs from server members, and the
channel is where the result (and any ending notice) was posted, which the bot was
checked able to post in. The post answers the result, mentions only the owner, and
carries a fixed nonce so a retried post is not shown twice.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.discord_io.ui import channel_of, shown_prompt
from bot.services.grants import RefundOutcome
from bot.text.usage_report import refund_notice

log = logging.getLogger(__name__)


async def tell_member(client: discord.Client, refund: RefundOutcome) -> bool:
    """Post the refund notice; ``False`` when Discord refused it (the refund stands)."""
    prompt = shown_prompt(refund.prompt)
    text = refund_notice(
        refund.locale, refund.user_id, refund.job_id, prompt, refund.usd, refund.reason
    )
    extra: dict[str, Any] = {}
    if refund.result_message_id is not None:  # answers the result (if it is still there)
        extra["reference"] = discord.MessageReference(
            message_id=refund.result_message_id,
            channel_id=refund.channel_id,
            fail_if_not_exists=False,
        )
    mentions = discord.AllowedMentions(
        everyone=False, users=[discord.Object(refund.user_id)], roles=False, replied_user=False
    )
    try:
        channel = await channel_of(client, refund.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return False
        await channel.send(
            text[:2000],
            allowed_mentions=mentions,
            **extra,
            nonce=f"atl-refund-{refund.job_id}"[:25],
        )
    except discord.HTTPException as exc:
        log.warning("job %s: could not tell its owner about the refund: %s", refund.job_id, exc)
        return False
    return True
