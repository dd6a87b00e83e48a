"""The progress card, edited in place as its job moves.

One task per job edits the card at most every ``interval`` seconds from the job's latest
row, so a burst of changes becomes one edit and the last state is always shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_io.announcer import ending_text, notice_nonce, owner_only
from bot.discord_io.ui import custom_id
from bot.domain.catalog import Catalog, Model, ValidationError
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.text.i18n import t
from bot.text.progress_card import POSTING, WAITING, Card, progress_card

if TYPE_CHECKING:
    from bot.services.jobs import JobService

log = logging.getLogger(__name__)

S = JobState

#: Seconds between two edits of one card (Discord allows about 5 edits per 5 s per channel).
EDIT_INTERVAL = 3.0
#: A card shows a state only once it has lasted this long (one that passes sooner is
#: skipped); an ending is shown at once.
SETTLE = 1.0
#: Stop using a token this long before Discord says it expires.
TOKEN_MARGIN = 60.0
#: Unknown webhook, invalid webhook token: the interaction token is dead.
DEAD_TOKEN = frozenset({10015, 50027})
UNKNOWN_MESSAGE = 10008

COLOURS: dict[str, discord.Colour] = {
    "active": discord.Colour.blurple(),
    "done": discord.Colour.green(),
    "failed": discord.Colour.red(),
    "cancelled": discord.Colour.light_grey(),
}


def card_embed(card: Card) -> discord.Embed:
    embed = discord.Embed(
        title=card.title[:256], description=card.description[:4096], colour=COLOURS[card.tone]
    )
    for item in card.fields[:25]:
        embed.add_field(name=item.name[:256], value=item.value[:1024], inline=item.inline)
    embed.set_footer(text=card.footer[:2048])
    return embed


def cancel_view(job_id: int, locale: str | None) -> discord.ui.View:
    """The card's Cancel button, layout only: the persistent ``atelier:cancel:<id>`` handler
    in ``cogs/buttons.py`` answers clicks (after a restart too), so the view is stopped."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label=t(locale, "Cancel"),
            style=discord.ButtonStyle.danger,
            custom_id=custom_id("cancel", job_id),
        )
    )
    view.stop()
    return view


def model_of(catalog: Catalog, model_id: str) -> Model | None:
    try:
        return catalog.get(model_id)
    except ValidationError:
        return None  # disabled since: the card shows the id alone


class ProgressUpdater:
    """Draws each job's progress card and, as a job listener once started, keeps it current."""

    def __init__(
        self,
        jobs: JobService,
        *,
        interval: float = EDIT_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.jobs = jobs
        self.interval = interval
        self.settle = min(SETTLE, interval)
        self.clock = clock
        self._client: discord.Client | None = None
        self._dirty: set[int] = set()
        self._moved_at: dict[int, float] = {}  # when each job last changed state
        self._workers: dict[int, asyncio.Task[None]] = {}

    @property
    def bot(self) -> discord.Client:
        assert self._client is not None, "ProgressUpdater.start was not called"
        return self._client

    def start(self, client: discord.Client) -> None:
        """Edit cards through ``client`` from now on (as a listener of the job service)."""
        self._client = client
        self.jobs.listeners.append(self)

    async def render(
        self, job: Job, *, now: float | None = None
    ) -> tuple[discord.Embed, discord.ui.View | None]:
        """The card's embed and buttons for ``job`` as it stands."""
        if job.state in WAITING:
            position: int | None = await self.jobs.queue_position(job)
        elif job.state in POSTING:
            position = await self.jobs.results_ahead(job)
        else:
            position = None
        model = model_of(self.jobs.catalog, job.model)
        now = self.clock() if now is None else now
        card = progress_card(job, model=model, position=position, now=now)
        view = cancel_view(job.id, job.locale) if card.cancellable else None
        return card_embed(card), view

    async def posted(self, job: Job, message_id: int) -> Job:
        """Record the card's message (edited from now on), as just drawn."""
        return await self.jobs.record(
            job.id, progress_message_id=message_id, progress_edited_at=self.clock()
        )

    async def job_changed(self, job: Job) -> None:
        if job.progress_message_id is not None:
            self._moved_at[job.id] = self.clock()
            self.touch(job.id)

    def touch(self, job_id: int) -> None:
        """Edit this job's card soon (coalesced with other changes)."""
        self._dirty.add(job_id)
        if job_id not in self._workers:
            self._workers[job_id] = asyncio.create_task(
                self._run(job_id), name=f"progress-{job_id}"
            )

    async def refresh_active(self) -> None:
        """After a restart: bring every running job's card up to date."""
        for job in await self.jobs.unfinished():
            if job.progress_message_id is not None:
                self.touch(job.id)

    async def close(self) -> None:
        if self in self.jobs.listeners:
            self.jobs.listeners.remove(self)
        tasks = list(self._workers.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._workers.clear()

    async def _run(self, job_id: int) -> None:
        try:
            await self.bot.wait_until_ready()
            while job_id in self._dirty:
                job = await self.jobs.get(job_id)
                if job is None or job.progress_message_id is None:
                    self._dirty.discard(job_id)
                    break
                ready = (job.progress_edited_at or 0.0) + self.interval
                if not job.state.is_terminal:
                    ready = max(ready, self._moved_at.get(job_id, 0.0) + self.settle)
                wait = ready - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue  # read the row again: it may have moved meanwhile
                self._dirty.discard(job_id)
                await self.edit(job)
                if job.state.is_terminal:
                    self._moved_at.pop(job_id, None)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: progress card update failed", job_id)
        finally:
            self._workers.pop(job_id, None)

    # -- one edit ----------------------------------------------------------------------

    async def edit(self, job: Job) -> None:
        """Edit the card once: through the token while it lives, else the channel."""
        assert job.progress_message_id is not None
        now = self.clock()
        embed, view = await self.render(job, now=now)
        try:
            if self._token_alive(job, now):
                try:
                    await self._edit_with_token(job, embed, view)
                except discord.HTTPException as exc:
                    if exc.code not in DEAD_TOKEN:
                        raise
                    log.info("job %s: interaction token dead; editing through the channel", job.id)
                    await self.jobs.record(job.id, interaction_expires_at=now)
                    await self._edit_in_channel(job, embed, view)
            else:
                await self._edit_in_channel(job, embed, view)
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_MESSAGE:
                log.info("job %s: card's channel is gone (%s)", job.id, exc.code)
                await self.jobs.record(job.id, progress_edited_at=now)
                return
            await self._card_gone(job)
            return
        except discord.Forbidden as exc:
            log.info("job %s: not allowed to edit the card (%s)", job.id, exc.code)
        except discord.HTTPException as exc:
            log.warning("job %s: card edit failed (%s); the next change retries", job.id, exc)
            return
        # A card showing the ending is the owner's notice; the stamp stops a second one.
        told = {"ending_told_at": now} if job.state.is_terminal else {}
        await self.jobs.record(job.id, progress_edited_at=now, **told)

    def _token_alive(self, job: Job, now: float) -> bool:
        return bool(
            job.interaction_token
            and job.application_id
            and (job.interaction_expires_at or 0.0) - TOKEN_MARGIN > now
        )

    async def _edit_with_token(
        self, job: Job, embed: discord.Embed, view: discord.ui.View | None
    ) -> None:
        assert job.application_id is not None and job.interaction_token is not None
        assert job.progress_message_id is not None
        hook = discord.Webhook.partial(job.application_id, job.interaction_token, client=self.bot)
        await hook.edit_message(
            job.progress_message_id,
            embed=embed,
            view=view,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def _edit_in_channel(
        self, job: Job, embed: discord.Embed, view: discord.ui.View | None
    ) -> None:
        assert job.progress_message_id is not None
        channel = await self._channel(job)
        if channel is None:
            log.info("job %s: its channel cannot hold messages; card left as it is", job.id)
            return
        message = channel.get_partial_message(job.progress_message_id)
        await message.edit(embed=embed, view=view, allowed_mentions=discord.AllowedMentions.none())

    async def _channel(self, job: Job) -> Any | None:
        channel: Any = self.bot.get_channel(job.channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(job.channel_id)
        return channel if hasattr(channel, "get_partial_message") else None

    async def _card_gone(self, job: Job) -> None:
        """Someone deleted the card. While the job runs there is nothing to do (its
        result still comes); if it ended without one, say why in one new message."""
        await self.jobs.record(job.id, progress_message_id=None)
        text = ending_text(job) if job.state.is_terminal else None
        if text is None or job.state == S.UNDELIVERABLE:
            return
        try:
            channel = await self._channel(job)
            if channel is not None:
                await channel.send(
                    text[:2000], allowed_mentions=owner_only(job), nonce=notice_nonce(job)
                )
        except discord.HTTPException as exc:
            log.warning("job %s: could not post its ending: %s", job.id, exc)
            return
        await self.jobs.record(job.id, ending_told_at=self.clock())
