"""Post a finished job's files into its channel, exactly once.

A background loop (like the poller) sleeps until the earliest ``next_delivery_at``,
or until :meth:`Deliverer.wake` (``JobService.wake_delivery``) says a job succeeded.
Each job is delivered under a small semaphore; a failure in one never stops the loop.

"Posted once" rests on three things:

1. Intent first: ``succeeded`` → ``delivering`` is recorded, with a per-job
   ``delivery_nonce``, before anything is posted.
2. Every message's id is recorded in ``result_message_ids`` right after it is posted,
   and a retry skips the parts already recorded (the split into parts is stable: see
   :mod:`bot.discord_io.delivery_plan`).
3. For the one part that may have been posted without being recorded (a crash or a
   lost response between the two), Discord drops a second send with the same nonce
   for a few minutes (``enforce_nonce``), and past that window the channel's recent
   history is searched for the bot's earlier post before posting again.

Posts are normal channel messages, never interaction follow-ups: an interaction
token dies after 15 minutes and a delivery may be retried for days.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import aiohttp
import discord

from bot.discord_io.delivery_plan import (
    MessagePlan,
    Outcome,
    ResultFile,
    parse_marker,
    part_count,
    part_of,
    plan_messages,
    render_content,
)
from bot.discord_io.ui import custom_id
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.maxapi import download as dl
from bot.services.tasks import Tasks
from bot.store import Store
from bot.text.i18n import t

log = logging.getLogger(__name__)

S = JobState
Notify = Callable[[Job], Awaitable[None]]

#: Files over this are links even in a guild whose limit is higher (disk, time).
HARD_DOWNLOAD_CAP = 100 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    allowed_hosts: frozenset[str] = frozenset()
    """Hosts exempt from the private-address check (the configured Max API host)."""
    concurrency: int = 2
    download_time_limit: float = 120.0
    max_download_bytes: int = HARD_DOWNLOAD_CAP
    lease: float = 120.0
    """How long a claimed job is hidden from the loop while an attempt runs."""
    backoff_base: float = 5.0
    backoff_cap: float = 900.0
    download_retries: int = 4
    """Attempts that may fail on a transient download error before the file is
    posted as a link instead."""
    history_limit: int = 200
    temp_dir: Path | None = None
    max_sleep: float = 300.0

    @classmethod
    def for_api(cls, maxapi_base_url: str, **overrides: Any) -> DeliveryConfig:
        """The config for a bot whose Max API lives at ``maxapi_base_url`` (its host may
        be loopback: the simulator)."""
        host = urlsplit(maxapi_base_url).hostname
        return cls(allowed_hosts=frozenset({host} if host else ()), **overrides)


# -- the message -------------------------------------------------------------------------


@dataclass
class OutgoingMessage:
    """What one ``channel.send`` carries. Built fresh for every attempt, because a
    ``discord.File`` is closed after one send."""

    content: str
    files: list[discord.File]
    allowed_mentions: discord.AllowedMentions
    nonce: str
    embeds: list[discord.Embed] = field(default_factory=list)
    view: discord.ui.View | None = None

    def send_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "content": self.content,
            "nonce": self.nonce,
            "allowed_mentions": self.allowed_mentions,
        }
        if self.files:
            kwargs["files"] = self.files
        if self.embeds:
            kwargs["embeds"] = self.embeds
        if self.view is not None:
            kwargs["view"] = self.view
        return kwargs

    def close(self) -> None:
        for f in self.files:
            f.close()


class MessageBuilder(Protocol):
    def __call__(self, job: Job, plan: MessagePlan, *, nonce: str) -> OutgoingMessage: ...


#: The result buttons: action, label (English, the i18n key), emoji.
RESULT_BUTTONS: tuple[tuple[str, str, str], ...] = (
    ("reroll", "Reroll", "🔄"),
    ("vary", "Variations", "🎨"),
    ("animate", "Animate", "🎬"),
    ("info", "Info", "ℹ️"),
    ("delete", "Delete", "🗑️"),
)
IMAGE_ONLY_ACTIONS = frozenset({"vary", "animate"})


def result_view(job: Job) -> discord.ui.View:
    """The buttons under a result: ``atelier:<action>:<job id>``. Only their layout: the
    persistent handler in ``cogs/buttons.py`` answers the clicks (after a restart too), so
    the view is stopped before it is sent and discord.py does not keep it in memory."""
    view = discord.ui.View(timeout=None)
    for action, label, emoji in RESULT_BUTTONS:
        if action in IMAGE_ONLY_ACTIONS and (job.result_kind or job.media) != "image":
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


def build_result_message(job: Job, plan: MessagePlan, *, nonce: str) -> OutgoingMessage:
    """The result message for one part; the last part carries the result buttons."""
    content = render_content(
        user_id=job.user_id,
        prompt=job.prompt,
        job_id=job.id,
        plan=plan,
        expires_at=job.result_expires_at,
        model=job.model,
        locale=job.locale,
    )
    files = []
    try:
        for result in plan.attachments:
            assert result.file is not None
            name = f"atelier-{job.id}-{result.number}{result.file.extension}"
            files.append(discord.File(result.file.path, filename=name))
    except BaseException:
        for f in files:
            f.close()
        raise
    return OutgoingMessage(
        content=content,
        files=files,
        allowed_mentions=discord.AllowedMentions(
            everyone=False, users=[discord.Object(job.user_id)], roles=False, replied_user=False
        ),
        nonce=nonce,
        view=result_view(job) if plan.part == plan.total - 1 else None,
    )


def part_nonce(base: str, part: int) -> str:
    """Discord nonces are at most 25 characters; the base is ``<job id>-<6 hex>``."""
    return f"{base}-{part}"[:25]


def new_delivery_nonce(job_id: int) -> str:
    return f"{job_id}-{secrets.token_hex(3)}"


# -- outcomes of an attempt --------------------------------------------------------------


class _Retry(Exception):
    """Transient: stay in ``delivering`` and try again later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Refused(Exception):
    """Permanent: Discord will not take this post (→ ``undeliverable``); ``message`` is
    an English template, stored with its ``fields`` and translated when shown."""

    def __init__(self, code: str, message: str, /, **fields: object) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.fields = fields


REFUSALS: dict[int, tuple[str, str]] = {
    50013: (
        "MISSING_PERMISSIONS",
        "Atelier is not allowed to post files in this channel (it needs Send Messages and "
        "Attach Files). Ask a moderator to fix the channel's permissions.",
    ),
    50001: ("MISSING_ACCESS", "Atelier can no longer see this channel."),
    10003: ("UNKNOWN_CHANNEL", "The channel was deleted before the result could be posted."),
}
REFUSED_TEXT = "Discord refused the post (code {code})."
NOT_FOUND_TEXT = "Discord could not find the channel (code {code})."


def is_too_large(exc: discord.HTTPException) -> bool:
    return exc.status == 413 or exc.code == 40005


def classify(exc: BaseException) -> _Retry | _Refused:
    """What a Discord or network error means for the delivery."""
    if isinstance(exc, discord.RateLimited):
        return _Retry("rate limited", exc.retry_after)
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429 or exc.status >= 500:
            return _Retry(f"Discord answered {exc.status}")
        if exc.code in REFUSALS:
            return _Refused(*REFUSALS[exc.code])
        if isinstance(exc, discord.Forbidden):
            return _Refused("FORBIDDEN", REFUSED_TEXT, code=exc.code)
        if isinstance(exc, discord.NotFound):
            return _Refused("NOT_FOUND", NOT_FOUND_TEXT, code=exc.code)
        return _Refused("DISCORD_REFUSED", REFUSED_TEXT, code=exc.code)
    if isinstance(exc, TimeoutError | aiohttp.ClientError | OSError | discord.ConnectionClosed):
        return _Retry(f"{type(exc).__name__}: {exc}")
    raise TypeError(f"not a delivery error: {exc!r}")


_DISCORD_ERRORS = (
    discord.HTTPException,
    discord.RateLimited,
    discord.ConnectionClosed,
    TimeoutError,
    aiohttp.ClientError,
    OSError,
)


# -- the deliverer -----------------------------------------------------------------------


async def fetch_result(
    session: aiohttp.ClientSession,
    config: DeliveryConfig,
    job_id: int,
    index: int,
    url: str,
    workdir: Path,
    cap: int,
) -> ResultFile:
    """One result file downloaded, or what became of it (too big, gone, not media).
    A transient failure raises :class:`bot.maxapi.download.NetworkError`: delivery retries it,
    ``/show`` gives up on that file."""
    try:
        got = await dl.download(
            session,
            url,
            workdir,
            f"result-{index + 1}",
            max_bytes=cap,
            time_limit=config.download_time_limit,
            allowed_hosts=config.allowed_hosts,
        )
    except dl.TooBig as exc:
        return ResultFile(index, url, Outcome.TOO_BIG, size=exc.size)
    except dl.LinkDead:
        return ResultFile(index, url, Outcome.GONE)
    except (dl.NotMedia, dl.Refused) as exc:
        log.warning("job %s: result %d not attachable: %s", job_id, index + 1, exc)
        return ResultFile(index, url, Outcome.NOT_MEDIA)
    return ResultFile.downloaded(index, got)


class Deliverer:
    """Delivers ``succeeded`` jobs; see the module docstring for the guarantees."""

    def __init__(
        self,
        client: discord.Client,
        store: Store,
        session: aiohttp.ClientSession,
        config: DeliveryConfig | None = None,
        *,
        notify: Notify | None = None,
        build: MessageBuilder = build_result_message,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.store = store
        self.session = session
        self.config = config or DeliveryConfig()
        self.notify = notify
        self.build = build
        self.clock = clock
        self.rng = rng
        self._wake = asyncio.Event()
        self._semaphore = asyncio.Semaphore(self.config.concurrency)
        self._in_flight: set[int] = set()
        self._tasks = Tasks()
        self._loop_task: asyncio.Task[None] | None = None

    # -- the loop ------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due jobs now (``JobService.wake_delivery`` is set to this)."""
        self._wake.set()

    def start(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self.run(), name="atelier-delivery")

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loop_task
            self._loop_task = None
        await self._tasks.close()

    async def run(self) -> None:
        """Sleep until the earliest due delivery (or a wake-up), start what is due, repeat."""
        while True:
            self._wake.clear()
            started, busy = 0, False
            try:
                started, busy = await self._start_due()
                delay = await self._sleep_time(started, busy)
            except Exception:
                log.exception("delivery loop: could not read due jobs")
                delay = 5.0
            # Not wait_for: on 3.11 it swallows a cancel that meets a wake-up, and close()
            # then waits for the whole sleep.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _start_due(self) -> tuple[int, bool]:
        now = self.clock()
        due = await self.store.due_for_delivery(now, limit=self.config.concurrency * 4)
        started, busy = 0, False
        for job in due:
            if job.id in self._in_flight:
                busy = True  # an attempt outlived its lease: look again soon, not in a spin
                continue
            self._in_flight.add(job.id)
            try:
                await self.store.update(job.id, next_delivery_at=now + self.config.lease)
            except BaseException:
                self._in_flight.discard(job.id)
                raise
            self._spawn(job.id)
            started += 1
        return started, busy

    async def _sleep_time(self, started: int, busy: bool) -> float:
        next_at = await self.store.next_delivery_time()
        delay = self.config.max_sleep if next_at is None else next_at - self.clock()
        delay = min(max(delay, 0.0), self.config.max_sleep)
        if busy:
            delay = min(max(delay, 1.0), 5.0)
        elif not started:
            delay = max(delay, 0.5)  # nothing startable: never spin on a stale time
        return delay

    def _spawn(self, job_id: int) -> None:
        self._tasks.spawn(self._run_claimed(job_id), name=f"deliver-{job_id}")

    async def _run_claimed(self, job_id: int) -> None:
        try:
            await self._deliver(job_id)
        except Exception:
            log.exception("job %s: delivery attempt failed; retried after the lease", job_id)
        finally:
            self._in_flight.discard(job_id)
            self.wake()

    # -- one job -------------------------------------------------------------------------

    async def deliver(self, job: Job | int) -> Job | None:
        """Deliver one job now (if it is due for delivery and not already being delivered);
        return it as it stands afterwards."""
        job_id = job if isinstance(job, int) else job.id
        if job_id in self._in_flight:
            return await self.store.get(job_id)
        self._in_flight.add(job_id)
        try:
            return await self._deliver(job_id)
        finally:
            self._in_flight.discard(job_id)

    async def _deliver(self, job_id: int) -> Job | None:
        async with self._semaphore:
            job = await self.store.get(job_id)
            if job is None or job.state not in (S.SUCCEEDED, S.DELIVERING):
                return job
            now = self.clock()
            if job.result_expires_at is not None and now >= job.result_expires_at:
                return await self._end(
                    job,
                    S.EXPIRED,
                    "result links expired",
                    failure_reason="RESULT_EXPIRED",
                    failure_message="The result's links expired before it could be posted.",
                )
            retry = job.state == S.DELIVERING or job.delivery_attempts > 0
            claimed = await self.store.transition(
                job.id,
                [S.SUCCEEDED, S.DELIVERING],
                S.DELIVERING,
                f"delivery attempt {job.delivery_attempts + 1}",
                delivery_nonce=job.delivery_nonce or new_delivery_nonce(job.id),
                next_delivery_at=now + self.config.lease,
            )
            if claimed is None:
                return await self.store.get(job.id)
            claimed = await self.store.increment(claimed.id, "delivery_attempts")
            if job.state == S.SUCCEEDED:
                await self._notify(claimed)
            # Created on the loop (one mkdir): made in a thread, a cancel (close())
            # arriving meanwhile would leave the directory behind, unknown to anyone.
            prefix = f"atelier-job{job.id}-"
            workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=self.config.temp_dir))
            try:
                return await self._attempt(claimed, workdir, retry)
            except _Retry as exc:
                return await self._back_off(claimed, exc)
            except _Refused as exc:
                log.warning("job %s: undeliverable: %s", job.id, exc.code)
                return await self._end(
                    claimed,
                    S.UNDELIVERABLE,
                    exc.code,
                    failure_reason=exc.code,
                    failure_message=exc.message,
                    failure_fields=exc.fields or None,
                )
            finally:
                await _remove_tree(workdir)

    async def _attempt(self, job: Job, workdir: Path, retry: bool) -> Job | None:
        urls = list(job.result_urls)
        if not urls:
            raise _Refused("NO_RESULT", "Max API reported success but sent no files.")
        channel = await self._channel(job.channel_id)
        limit = _upload_limit(channel)
        cap = min(limit, self.config.max_download_bytes)
        total = part_count(len(urls))
        posted = list(job.result_message_ids)
        nothing_posted = not posted
        waiting: list[MessagePlan] = []  # leading parts whose every file is gone
        for part in range(len(posted), total):
            indexes = [i for i in range(len(urls)) if part_of(i) == part]
            results = [await self._fetch(job, i, urls[i], workdir, cap) for i in indexes]
            (plan,) = plan_messages(results, url_count=len(urls), upload_limit=limit)
            if nothing_posted and len(plan.gone) == len(indexes):
                waiting.append(plan)
                continue
            for each in [*waiting, plan]:
                check = retry and len(posted) == len(job.result_message_ids)
                message_id = await self._post_part(channel, job, each, look_first=check)
                posted.append(message_id)
                await self.store.update(job.id, result_message_ids=posted)
            waiting.clear()
            nothing_posted = False
            await asyncio.to_thread(_remove, (r.file.path for r in results if r.file))
        if waiting:
            return await self._end(
                job,
                S.EXPIRED,
                "results gone",
                failure_reason="RESULT_GONE",
                failure_message="Max API no longer has the result files.",
            )
        done = await self.store.transition(
            job.id,
            S.DELIVERING,
            S.DELIVERED,
            f"posted {len(posted)} message(s)",
            result_message_ids=posted,
        )
        if done is None:
            return await self.store.get(job.id)
        log.info("job %s: delivered in %d message(s)", job.id, len(posted))
        await self._notify(done)
        return done

    async def _fetch(self, job: Job, index: int, url: str, workdir: Path, cap: int) -> ResultFile:
        try:
            return await fetch_result(self.session, self.config, job.id, index, url, workdir, cap)
        except dl.NetworkError as exc:
            if job.delivery_attempts < self.config.download_retries:
                raise _Retry(f"download failed: {exc}") from exc
            log.warning("job %s: giving up on downloading result %d: %s", job.id, index + 1, exc)
            return ResultFile(index, url, Outcome.UNREACHABLE)

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel: Any = self.client.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.client.fetch_channel(channel_id)
            except _DISCORD_ERRORS as exc:
                raise classify(exc) from exc
        if not callable(getattr(channel, "send", None)):  # a category or forum channel
            raise _Refused("NOT_A_TEXT_CHANNEL", "The job's channel cannot hold messages.")
        return cast(discord.abc.Messageable, channel)

    async def _post_part(
        self,
        channel: discord.abc.Messageable,
        job: Job,
        plan: MessagePlan,
        *,
        look_first: bool,
    ) -> int:
        """Post one part and return its message id (or find the earlier post of it)."""
        if look_first:
            earlier = await self._find_earlier(channel, job, plan)
            if earlier is not None:
                log.info("job %s: part %d was already posted as %s", job.id, plan.part, earlier)
                return earlier
        nonce = part_nonce(job.delivery_nonce or new_delivery_nonce(job.id), plan.part)
        while True:
            message = self.build(job, plan, nonce=nonce)
            try:
                sent = await channel.send(**message.send_kwargs())
            except discord.HTTPException as exc:
                if is_too_large(exc) and plan.attachments:
                    log.info("job %s: Discord refused a file as too large; linking it", job.id)
                    plan = plan.without_largest_attachment()
                    continue
                raise classify(exc) from exc
            except _DISCORD_ERRORS as exc:
                raise classify(exc) from exc
            finally:
                message.close()
            return sent.id

    async def _find_earlier(
        self, channel: discord.abc.Messageable, job: Job, plan: MessagePlan
    ) -> int | None:
        """The bot's earlier post of this part, searched from the job's success on."""
        me = self.client.user
        if me is None:
            return None
        since = (job.upstream_done_at or job.created_at) - 60
        after = datetime.fromtimestamp(since, UTC)
        wanted = (job.id, plan.part, plan.total)
        try:
            async for message in channel.history(
                limit=self.config.history_limit, after=after, oldest_first=True
            ):
                if message.author.id == me.id and parse_marker(message.content) == wanted:
                    return message.id
        except discord.Forbidden:
            log.info("job %s: cannot read history; relying on the nonce", job.id)
        except _DISCORD_ERRORS as exc:
            raise classify(exc) from exc
        return None

    # -- endings and retries ---------------------------------------------------------------

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Exponential backoff with equal jitter, at least ``retry_after``."""
        ceiling = min(self.config.backoff_cap, self.config.backoff_base * 2 ** max(0, attempts - 1))
        delay = ceiling / 2 + self.rng() * ceiling / 2
        return max(delay, retry_after or 0.0)

    async def _back_off(self, job: Job, exc: _Retry) -> Job:
        now = self.clock()
        at = now + self.backoff(job.delivery_attempts, exc.retry_after)
        if job.result_expires_at is not None:
            at = min(at, max(now, job.result_expires_at))  # the next look expires it
        log.warning(
            "job %s: delivery attempt %d failed (%s); next try in %.1f s",
            job.id,
            job.delivery_attempts,
            exc.reason,
            at - now,
        )
        return await self.store.update(job.id, next_delivery_at=at)

    async def _end(self, job: Job, target: JobState, reason: str, **values: Any) -> Job | None:
        moved = await self.store.transition(
            job.id, [S.SUCCEEDED, S.DELIVERING], target, reason, **values
        )
        if moved is None:
            return await self.store.get(job.id)
        await self._notify(moved)
        return moved

    async def _notify(self, job: Job) -> None:
        if self.notify is None:
            return
        try:
            await self.notify(job)
        except Exception:
            log.exception("job %s: notify failed", job.id)


def _upload_limit(channel: discord.abc.Messageable) -> int:
    guild = getattr(channel, "guild", None)
    if isinstance(guild, discord.Guild):
        return guild.filesize_limit
    return discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


__all__ = [
    "Deliverer",
    "DeliveryConfig",
    "MessageBuilder",
    "OutgoingMessage",
    "build_result_message",
    "classify",
]


async def _remove_tree(path: Path) -> None:
    """Remove a delivery's temporary files off the loop; if the attempt is cancelled
    meanwhile (close()), finish on the loop: the cancel must not leave files behind."""
    try:
        await asyncio.to_thread(shutil.rmtree, path, True)
    except asyncio.CancelledError:
        shutil.rmtree(path, ignore_errors=True)
        raise
