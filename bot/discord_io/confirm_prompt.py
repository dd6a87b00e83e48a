"""The private Confirm / Cancel question of a job whose cost is above the server's
threshold: asking it, starting the job on Confirm, and closing the question when the
job ends unconfirmed (through the asking interaction's token, while it lives)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_io.card_answer import drop_unseen, follow_and_submit, send_card
from bot.discord_io.ui import job_buttons
from bot.domain.confirmation import cost_basis
from bot.domain.job import Job
from bot.services.jobs import JobService
from bot.text.confirmation import CONFIRMED, ended_text, prompt_text
from bot.text.i18n import t

if TYPE_CHECKING:
    from bot.discord_io.client import Services

log = logging.getLogger(__name__)

#: The message an interaction's answer is, in a webhook's message route.
ORIGINAL: Any = "@original"
TOKEN_MARGIN = 30.0  # seconds: a token this close to its end is not used
CONFIRM_BUTTONS = (
    ("confirm", "Confirm", discord.ButtonStyle.success),
    ("cancel", "Cancel", discord.ButtonStyle.secondary),
)


def confirm_view(job_id: int, locale: str | None) -> discord.ui.View:
    """Confirm and Cancel, layout only: ``atelier:confirm:<id>`` (``cogs/confirm.py``) and
    ``atelier:cancel:<id>`` (``cogs/buttons.py``) answer the clicks, after a restart too."""
    return job_buttons(job_id, CONFIRM_BUTTONS, locale)


def question(services: Services, job: Job) -> str:
    """The cost, and what it is based on, in the member's language."""
    try:
        basis = cost_basis(
            services.catalog.get(job.model), job.input, job.price_usd, job.price_documented
        )
    except ValueError:  # the model left the catalogue: the total alone
        basis = None
    return prompt_text(job, basis, job.locale)


async def ask(services: Services, interaction: discord.Interaction, job: Job) -> Job:
    """Answer privately with the job's cost and Confirm / Cancel; nothing is submitted."""
    try:
        await interaction.response.send_message(
            question(services, job),
            view=confirm_view(job.id, job.locale),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
    except Exception:
        # Nobody can confirm a question that was never shown: release the reservation.
        await drop_unseen(services.jobs, job, "the answer to the interaction failed")
        raise
    log.info("job %s held for confirmation: %s at $%.4f", job.id, job.model, job.price_usd)
    return job


async def start_confirmed(services: Services, interaction: discord.Interaction, job: Job) -> Job:
    """After Confirm: answer the click with the public progress card, as ``launch`` does,
    follow the job through the click's token from now on, submit it, and close the question."""
    asked = job
    answer = await send_card(services, interaction, job, why="the answer to the Confirm failed")
    job = await services.jobs.record(
        job.id,
        application_id=interaction.application_id,
        interaction_token=interaction.token,
        interaction_expires_at=interaction.expires_at.timestamp(),
    )
    job = await follow_and_submit(services, interaction, job, answer)
    await close_question(interaction.client, asked, t(job.locale, CONFIRMED, job_id=job.id))
    return job


async def close_question(client: discord.Client, job: Job, text: str) -> bool:
    """Replace the question with ``text`` and no buttons, through the token that asked it;
    ``False`` when that token is gone (the buttons then answer with one sentence)."""
    now = discord.utils.utcnow().timestamp()
    if not (job.application_id and job.interaction_token):
        return False
    if (job.interaction_expires_at or 0.0) - TOKEN_MARGIN <= now:
        return False
    hook = discord.Webhook.partial(job.application_id, job.interaction_token, client=client)
    try:
        await hook.edit_message(
            ORIGINAL, content=text, view=None, allowed_mentions=discord.AllowedMentions.none()
        )
    except discord.HTTPException as exc:
        log.info("job %s: could not close its confirm question (%s)", job.id, exc)
        return False
    return True


class ConfirmPrompts:
    """A job listener: when a held job ends (Cancel, or no Confirm in time), its question
    says so; recorded as the member's notice of the ending (nothing is posted publicly)."""

    def __init__(self, client: discord.Client, jobs: JobService) -> None:
        self.client = client
        self.jobs = jobs

    async def job_changed(self, job: Job) -> None:
        if job.confirm_by is None or not job.state.is_terminal or job.ending_told_at is not None:
            return
        await close_question(self.client, job, ended_text(job, job.locale))
        await self.jobs.record(job.id, ending_told_at=self.jobs.clock())
