"""Reports on Discord: a result hidden behind spoilers (its files uploaded again as
``SPOILER_`` files, as Discord cannot rename an attachment), the review post in the
audit channel with its Keep / Remove buttons, and the post once decided."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord

from bot.discord_io.ui import channel_of, job_buttons
from bot.domain.job import Job
from bot.text.delivery_plan import MAX_CONTENT
from bot.text.i18n import t
from bot.text.job_pages import jump_url
from bot.text.markdown import escape_markdown

log = logging.getLogger(__name__)

REVIEW_COLOUR = discord.Colour.orange()
KEPT_COLOUR = discord.Colour.green()
REMOVED_COLOUR = discord.Colour.dark_grey()
REVIEW_BUTTONS = (
    ("keep", "Keep", discord.ButtonStyle.success),
    ("remove", "Remove", discord.ButtonStyle.danger),
)


def spoil_links(content: str, urls: Sequence[str], on: bool) -> str:
    """``content`` with each result link inside ``||…||`` (``on``) or not; unchanged when
    that would pass Discord's 2000 characters."""
    changed = content
    for url in dict.fromkeys(u for u in urls if u):
        changed = changed.replace(f"||{url}||", url)
        if on:
            changed = changed.replace(url, f"||{url}||")
    return changed if len(changed) <= MAX_CONTENT else content


async def set_spoiler(client: discord.Client, job: Job, spoiler: bool) -> int:
    """Hide the job's result messages behind spoilers, or show them again: files are
    uploaded again (as ``SPOILER_`` files or not), links wrapped in ``||``; messages gone
    (or already so) are passed over. How many messages changed."""
    if not job.result_message_ids:
        return 0
    channel = await channel_of(client, job.channel_id)
    changed = 0
    for message_id in job.result_message_ids:
        try:
            message = await channel.fetch_message(message_id)
        except discord.NotFound:
            continue
        edit: dict[str, Any] = {}
        content = spoil_links(message.content, job.result_urls, spoiler)
        if content != message.content:
            edit["content"] = content
        files = message.attachments
        uploads = []
        if any(a.is_spoiler() != spoiler for a in files):
            uploads = [await a.to_file(spoiler=spoiler) for a in files]
            edit["attachments"] = uploads
        if not edit:
            continue
        try:
            await message.edit(**edit)
        finally:
            for upload in uploads:
                upload.close()
        changed += 1
    log.info("job %s: %d result message(s) spoiler=%s", job.id, changed, spoiler)
    return changed


async def delete_results(client: discord.Client, job: Job) -> None:
    """Delete the job's result messages (those already gone are passed over)."""
    channel = await channel_of(client, job.channel_id)
    for message_id in job.result_message_ids:
        try:
            await channel.get_partial_message(message_id).delete()
        except discord.NotFound:
            continue


def review_view(job_id: int, locale: str | None) -> discord.ui.View:
    """Keep / Remove, ``atelier:keep|remove:<job id>``: answered by ``cogs/buttons.py``."""
    return job_buttons(job_id, REVIEW_BUTTONS, locale)


def review_embed(job: Job, reporter_id: int, locale: str | None) -> discord.Embed:
    """What moderators see of a report: who, what, where; the result stays hidden."""
    prompt = escape_markdown(" ".join(job.prompt.split()))[:1000] or "—"
    embed = discord.Embed(
        title=t(locale, "Result reported: job #{job_id}", job_id=job.id),
        description=t(locale, "The result is hidden behind a spoiler until a moderator decides."),
        colour=REVIEW_COLOUR,
    )
    links = [jump_url(job.guild_id, job.channel_id, m) for m in job.result_message_ids]
    for name, value, inline in (
        (t(locale, "Reported by"), f"<@{reporter_id}>", True),
        (t(locale, "Made by"), f"<@{job.user_id}>", True),
        (t(locale, "Model"), f"`{job.model}`", True),
        (t(locale, "Prompt"), prompt, False),
        (t(locale, "Result"), "\n".join(links)[:1024] or "—", False),
    ):
        embed.add_field(name=name, value=value, inline=inline)
    return embed


def decided_embed(
    embed: discord.Embed, kept: bool, moderator_id: int, at: float, locale: str | None
) -> discord.Embed:
    """The review post once decided: the decision on top, the buttons gone."""
    if kept:
        text = t(
            locale,
            "Kept by <@{moderator}> <t:{at}:R>: the result is shown again.",
            moderator=moderator_id,
            at=int(at),
        )
    else:
        text = t(
            locale,
            "Removed by <@{moderator}> <t:{at}:R>: the result was deleted and can't be "
            "shown again.",
            moderator=moderator_id,
            at=int(at),
        )
    embed.description = text
    embed.colour = KEPT_COLOUR if kept else REMOVED_COLOUR
    return embed
