"""One result message: its text, files, buttons and mentions, and posting it."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.discord_io.report_review import spoil_links
from bot.discord_io.ui import custom_id
from bot.domain.catalog import Catalog
from bot.domain.job import Job
from bot.domain.upscale import upscale_target
from bot.text.delivery_plan import MAX_CONTENT, MessagePlan, render_content
from bot.text.i18n import t

log = logging.getLogger(__name__)

#: The result buttons: action, label (English, the i18n key), emoji.
RESULT_BUTTONS: tuple[tuple[str, str, str], ...] = (
    ("reroll", "Reroll", "🔄"),
    ("remix", "Remix", "🎛️"),
    ("vary", "Variations", "🎨"),
    ("animate", "Animate", "🎬"),
    ("upscale", "Upscale", "🔍"),
    ("info", "Info", "ℹ️"),
    ("delete", "Delete", "🗑️"),
    ("report", "Report", "🚩"),
)
IMAGE_ONLY_ACTIONS = frozenset({"vary", "animate"})


def result_view(
    job: Job, *, delete: bool = True, catalog: Catalog | None = None
) -> discord.ui.View:
    """The buttons under a result, ``atelier:<action>:<job id>``. Stopped before it is sent:
    the persistent handler in ``cogs/buttons.py`` answers the clicks, after a restart too.
    A ``/show`` re-post (``delete=False``) has no Delete and no Report. Upscale needs the
    ``catalog``, and a higher resolution than the job used."""
    view = discord.ui.View(timeout=None)
    for action, label, emoji in RESULT_BUTTONS:
        if action == "upscale" and (
            catalog is None
            or upscale_target(catalog, job.model, job.options, job.result_kind or job.media) is None
        ):
            continue
        if action in IMAGE_ONLY_ACTIONS and (job.result_kind or job.media) != "image":
            continue
        if action in ("delete", "report") and not delete:
            continue
        view.add_item(
            discord.ui.Button(
                label=t(job.locale, label),
                emoji=emoji,
                custom_id=custom_id(action, job.id),
                style=discord.ButtonStyle.secondary,
            )
        )
    view.stop()
    return view


def part_nonce(base: str, part: int) -> str:
    """The nonce of one part; Discord takes at most 25 characters."""
    return f"{base}-{part}"[:25]


def upload_limit(channel: discord.abc.Messageable) -> int:
    guild = getattr(channel, "guild", None)
    if isinstance(guild, discord.Guild):
        return guild.filesize_limit
    return discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES


async def post_part(
    channel: discord.abc.Messageable,
    job: Job,
    plan: MessagePlan,
    *,
    nonce: str,
    shown_by: str | None = None,
    spoiler: bool = False,
    catalog: Catalog | None = None,
) -> int:
    """Post one part and return its message id; a file Discord refuses as too large
    becomes a link. ``shown_by`` marks a ``/show`` re-post: no mention, no Delete button.
    ``spoiler``: files and links are hidden behind spoilers (a spoiler channel)."""
    while True:
        files: list[discord.File] = []
        try:
            for result in plan.attachments:
                assert result.path is not None
                name = f"atelier-{job.id}-{result.number}{result.path.suffix}"
                files.append(discord.File(result.path, filename=name, spoiler=spoiler))
            arguments = _send_arguments(job, plan, files, nonce, shown_by, catalog)
            if spoiler:  # links too
                arguments["content"] = spoil_links(arguments["content"], job.result_urls, True)
            sent = await channel.send(**arguments)
            return sent.id
        except discord.HTTPException as exc:
            if not ((exc.status == 413 or exc.code == 40005) and plan.attachments):
                raise
            log.info("job %s: Discord refused a file as too large; linking it", job.id)
            plan = plan.without_largest_attachment()
        finally:
            for file in files:  # a file is closed once sent: each try opens its own
                file.close()


def _send_arguments(
    job: Job,
    plan: MessagePlan,
    files: list[discord.File],
    nonce: str,
    shown_by: str | None,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    content = render_content(
        user_id=job.user_id,
        prompt=job.prompt,
        job_id=job.id,
        plan=plan,
        expires_at=job.result_expires_at,
        model=job.model,
        locale=job.locale,
    )
    if shown_by is None:
        mentions = discord.AllowedMentions(
            everyone=False, users=[discord.Object(job.user_id)], roles=False, replied_user=False
        )
    else:
        mentions = discord.AllowedMentions.none()
        if len(shown_by) + 1 + len(content) <= MAX_CONTENT:
            content = f"{shown_by}\n{content}"
    arguments: dict[str, Any] = {"content": content, "nonce": nonce, "allowed_mentions": mentions}
    if files:
        arguments["files"] = files
    if plan.part == plan.total - 1:  # the last part carries the buttons
        arguments["view"] = result_view(job, delete=shown_by is None, catalog=catalog)
    return arguments
