"""Post each finished job's files into its channel exactly once, retrying for days: a
loop sleeps until the earliest due delivery or a wake-up, then posts the due jobs as
channel messages (an interaction token expires long before a retry may run)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
import discord

from bot.discord_io.delivery_errors import DISCORD_ERRORS, _Refused, _Retry, classify
from bot.discord_io.delivery_files import (
    DeliveryConfig,
    _remove,
    fetch_result,
    make_workdir,
    remove_tree,
)
from bot.discord_io.delivery_message import part_nonce, post_part, upload_limit
from bot.domain.catalog import Catalog
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.maxapi import download as dl
from bot.services import cluster
from bot.services.tasks import Tasks, notify
from bot.store import Store
from bot.text.delivery_plan import (
    MessagePlan,
    Outcome,
    ResultFile,
    parse_marker,
    part_count,
    part_of,
    plan_messages,
)

log = logging.getLogger(__name__)

S = JobState
Notify = Callable[[Job], Awaitable[None]]

#: How long a channel read over REST is used again, and how many are kept.
CHANNEL_FOR = 600.0
CHANNELS_KEPT = 1000

#: How long a guild's upload limit read over REST is trusted (boosts change it rarely).
GUILD_FACTS_FOR = 3600.0

# -- the deliverer -------------------------------------------------------------------------


class Deliverer:
    """Delivers ``succeeded`` jobs: a loop over due jobs, and the posting of one job."""

    def __init__(
        self,
        client: discord.Client,
        store: Store,
        session: aiohttp.ClientSession,
        config: DeliveryConfig | None = None,
        *,
        notify: Notify | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        owner: str = "",
        catalog: Catalog | None = None,
    ) -> None:
        self.client = client
        self.catalog = catalog  # for the result buttons (Upscale needs it)
        self.owner = owner  # this process, as the claims it takes name it
        self.store = store
        self.session = session
        self.config = config or DeliveryConfig()
        self.listeners = [notify] if notify is not None else []
        self.clock = clock
        self.rng = rng
        self.lease = cluster.LEASE_SECONDS if self.config.lease is None else self.config.lease
        self._wake = asyncio.Event()
        self._downloads = asyncio.Semaphore(self.config.concurrency)
        # Channels read over REST (a guild on another process's shard is not in the
        # cache): kept a while, so each delivery there does not fetch its channel again.
        self._fetched: dict[int, tuple[float, discord.abc.Messageable]] = {}
        self._in_flight: set[int] = set()
        # Channel id → its jobs waiting to post, in order; each channel with any has one
        # worker, so a channel waiting for its bucket holds up no other channel.
        self._queues: dict[int, collections.deque[int]] = {}
        self._tasks = Tasks()
        self._loop: asyncio.Task[None] | None = None

    # -- the loop --------------------------------------------------------------------------

    def wake(self) -> None:
        """Check for due jobs now (``JobService.wake_delivery`` is set to this)."""
        self._wake.set()

    def start(self) -> None:
        if self._loop is None or self._loop.done():
            self._loop = self._tasks.spawn(self.run(), name="atelier-delivery")

    async def close(self) -> None:
        """Stop the loop and cancel the attempts in flight."""
        await self._tasks.close()
        self._loop = None

    async def run(self) -> None:
        """Start what is due, then sleep until the next due delivery or a wake-up."""
        while True:
            self._wake.clear()
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
        """Queue each due job in its channel; ``busy``: one is due but already queued."""
        now = self.clock()
        # This process's jobs, and those of processes that stopped: no two processes queue
        # the same job (only one could claim it).
        due = await self.store.due_for_delivery(
            now, limit=self.config.batch, owner=self.owner, stale_after=cluster.LEASE_SECONDS
        )
        started, busy = 0, False
        for job in due:
            if job.id in self._in_flight:
                busy = True  # waiting for its channel here, or outlived its lease
                continue
            self._in_flight.add(job.id)
            queue = self._queues.get(job.channel_id)
            if queue is None:
                queue = self._queues[job.channel_id] = collections.deque()
                name = f"deliver-channel-{job.channel_id}"
                self._tasks.spawn(self._channel_worker(job.channel_id, queue), name=name)
            queue.append(job.id)
            started += 1
        return started, busy

    async def _sleep_time(self, started: int, busy: bool) -> float:
        next_at = await self.store.next_delivery_time()
        delay = self.config.max_sleep if next_at is None else next_at - self.clock()
        delay = min(max(delay, 0.0), self.config.max_sleep)
        if self.store.shared:  # another process may hand this one work without waking it
            delay = min(delay, cluster.HEARTBEAT_SECONDS)
        if busy:
            delay = min(max(delay, 1.0), 5.0)
        elif not started:
            delay = max(delay, 0.5)  # nothing startable: never spin on a stale time
        return delay

    async def _channel_worker(self, channel_id: int, queue: collections.deque[int]) -> None:
        """Post one channel's queued jobs in order, each claimed when its turn comes."""
        try:
            while queue:
                job_id = queue[0]
                try:
                    now = self.clock()
                    claimed = await self.store.claim_delivery(
                        job_id, now, now + self.lease, self.owner
                    )
                    if claimed is not None:  # else another process has it, or not due
                        await self._deliver(claimed)
                except Exception:
                    log.exception("job %s: delivery attempt failed; retried later", job_id)
                finally:
                    queue.popleft()
                    self._in_flight.discard(job_id)
        finally:
            if self._queues.get(channel_id) is queue:
                del self._queues[channel_id]
            self.wake()

    # -- one job ---------------------------------------------------------------------------

    async def deliver(self, job: Job) -> Job | None:
        """Deliver one job now, due or not, unless an attempt holds it; return it afterwards."""
        if job.id in self._in_flight:
            return await self.store.get(job.id)
        self._in_flight.add(job.id)
        try:
            until = self.clock() + self.lease
            claimed = await self.store.claim_delivery(job.id, math.inf, until, self.owner)
            if claimed is None:
                return await self.store.get(job.id)
            return await self._deliver(claimed)
        finally:
            self._in_flight.discard(job.id)

    async def _deliver(self, job: Job) -> Job | None:
        """Post a job this process claimed (``job.fence`` is its claim)."""
        job_id = job.id
        if job.result_expires_at is not None and self.clock() >= job.result_expires_at:
            return await self._end(
                job,
                S.EXPIRED,
                "result links expired",
                failure_reason="RESULT_EXPIRED",
                failure_message="The result's links expired before it could be posted.",
            )
        claimed = await self._claim(job)
        if claimed is None:
            return await self.store.get(job_id)
        retry = job.state == S.DELIVERING or job.delivery_attempts > 0
        workdir = make_workdir(f"atelier-job{job_id}-", self.config.temp_dir)
        try:
            return await self._post_all(claimed, workdir, retry=retry)
        except _Retry as exc:
            return await self._back_off(claimed, exc)
        except _Refused as exc:
            log.warning("job %s: undeliverable: %s", job_id, exc.code)
            return await self._end(
                claimed,
                S.UNDELIVERABLE,
                exc.code,
                failure_reason=exc.code,
                failure_message=exc.message,
                failure_fields=exc.fields or None,
            )
        finally:
            await remove_tree(workdir)

    async def _claim(self, job: Job) -> Job | None:
        """Record the intent (``delivering``, a nonce) before anything is posted; ``None``
        if the claim was lost meanwhile (another process took the job over)."""
        claimed = await self.store.transition(
            job.id,
            [S.SUCCEEDED, S.DELIVERING],
            S.DELIVERING,
            f"delivery attempt {job.delivery_attempts + 1}",
            fence=job.fence,
            delivery_nonce=job.delivery_nonce or f"{job.id}-{secrets.token_hex(3)}",
            delivery_attempts=job.delivery_attempts + 1,
            next_delivery_at=self.clock() + self.lease,
        )
        if claimed is None:
            return None
        if job.state == S.SUCCEEDED:
            await notify(self.listeners, claimed)
        return claimed

    async def _post_all(self, job: Job, workdir: Path, *, retry: bool) -> Job | None:
        """Post the parts not yet recorded, each id recorded at once, then end the job."""
        urls = job.result_urls
        if not urls:
            raise _Refused("NO_RESULT", "Max API reported success but sent no files.")
        channel = await self._channel(job.channel_id)
        limit = await self._upload_limit(channel)
        cap = min(limit, self.config.max_download_bytes)
        posted = list(job.result_message_ids)
        held_until = self.clock() + self.lease  # as _claim left it
        all_gone: list[MessagePlan] = []  # leading parts whose every file is gone
        for part in range(len(posted), part_count(len(urls))):
            indexes = [i for i in range(len(urls)) if part_of(i) == part]
            results = [await self._fetch(job, i, workdir, cap) for i in indexes]
            (plan,) = plan_messages(results, url_count=len(urls), upload_limit=limit)
            if not posted and len(plan.gone) == len(indexes):
                all_gone.append(plan)
                continue
            for each in [*all_gone, plan]:
                if held_until - self.clock() < self.lease / 2:  # long downloads: renew first
                    if not await self._renew(job, posted):
                        return await self.store.get(job.id)
                    held_until = self.clock() + self.lease
                # Only the first post of a retry may have gone out without being recorded.
                check = retry and len(posted) == len(job.result_message_ids)
                posted.append(await self._post(channel, job, each, check_history=check))
                if not await self._renew(job, posted):
                    return await self.store.get(job.id)
                held_until = self.clock() + self.lease
            all_gone.clear()
            await asyncio.to_thread(_remove, (r.path for r in results if r.path))
        if all_gone:
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
            fence=job.fence,
            result_message_ids=posted,
        )
        if done is None:
            return await self.store.get(job.id)
        log.info("job %s: delivered in %d message(s)", job.id, len(posted))
        await notify(self.listeners, done)
        return done

    async def _renew(self, job: Job, posted: list[int]) -> bool:
        """Record what was posted and renew the claim; ``False``: another process took the
        job over (its claim ran out), so this one posts nothing more."""
        kept = await self.store.update_fenced(
            job.id, job.fence, result_message_ids=posted, next_delivery_at=self.clock() + self.lease
        )
        if kept is None:
            log.warning("job %s: another process took over its delivery", job.id)
        return kept is not None

    async def _fetch(self, job: Job, index: int, workdir: Path, cap: int) -> ResultFile:
        url = job.result_urls[index]
        try:
            async with self._downloads:
                return await fetch_result(
                    self.session, self.config, job.id, index, url, workdir, cap
                )
        except dl.NetworkError as exc:
            if job.delivery_attempts < self.config.download_retries:
                raise _Retry(f"download failed: {exc}") from exc
            log.warning("job %s: giving up on downloading result %d: %s", job.id, index + 1, exc)
            return ResultFile(index, url, Outcome.UNREACHABLE)

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel: Any = self.client.get_channel(channel_id)
        fetched = self._fetched.get(channel_id)
        if channel is None and fetched is not None and self.clock() - fetched[0] < CHANNEL_FOR:
            channel = fetched[1]
        if channel is None:
            try:
                channel = await self.client.fetch_channel(channel_id)
            except DISCORD_ERRORS as exc:
                raise classify(exc) from exc
            if len(self._fetched) >= CHANNELS_KEPT:
                self._fetched.clear()
            self._fetched[channel_id] = (self.clock(), channel)
        if not callable(getattr(channel, "send", None)):  # a category or forum channel
            raise _Refused("NOT_A_TEXT_CHANNEL", "The job's channel cannot hold messages.")
        return cast(discord.abc.Messageable, channel)

    async def _upload_limit(self, channel: discord.abc.Messageable) -> int:
        """The guild's upload limit: from the gateway cache when this process runs the
        guild's shard, else read over REST once an hour and kept in the store for all."""
        guild = getattr(channel, "guild", None)
        if not isinstance(guild, discord.Guild) or not guild.unavailable:
            return upload_limit(channel)
        kept = await self.store.guild_facts(guild.id)
        if kept is not None and self.clock() - kept[1] < GUILD_FACTS_FOR:
            return int(kept[0]["upload_limit"])
        try:
            fetched = await self.client.fetch_guild(guild.id, with_counts=False)
        except DISCORD_ERRORS as exc:
            log.info("guild %s: upload limit not readable (%s); using the default", guild.id, exc)
            return upload_limit(channel)
        await self.store.set_guild_facts(guild.id, {"upload_limit": fetched.filesize_limit})
        return fetched.filesize_limit

    async def _post(
        self, channel: discord.abc.Messageable, job: Job, plan: MessagePlan, *, check_history: bool
    ) -> int:
        """Post one part, or return the id of its earlier post. Discord drops a repeat of
        the nonce for a few minutes; past that, only the history search prevents a double."""
        assert job.delivery_nonce is not None
        try:
            earlier = await self._find_earlier(channel, job, plan) if check_history else None
            if earlier is not None:
                log.info("job %s: part %d was already posted as %s", job.id, plan.part, earlier)
                return earlier
            config = await self.store.guild_config(job.guild_id or 0)
            return await post_part(
                channel,
                job,
                plan,
                nonce=part_nonce(job.delivery_nonce, plan.part),
                spoiler=job.channel_id in config.spoiler_channel_ids,
                catalog=self.catalog,
            )
        except DISCORD_ERRORS as exc:
            raise classify(exc) from exc

    async def _find_earlier(
        self, channel: discord.abc.Messageable, job: Job, plan: MessagePlan
    ) -> int | None:
        """The bot's earlier post of this part, searched from the job's success on."""
        me = self.client.user
        if me is None:
            return None
        since = (job.upstream_done_at or job.created_at) - 60
        wanted = (job.id, plan.part, plan.total)
        history = channel.history(
            limit=self.config.history_limit,
            after=datetime.fromtimestamp(since, UTC),
            oldest_first=True,
        )
        try:
            async for message in history:
                if message.author.id == me.id and parse_marker(message.content) == wanted:
                    return message.id
        except discord.Forbidden:
            log.info("job %s: cannot read history; relying on the nonce", job.id)
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
            at = min(at, max(now, job.result_expires_at))  # the next attempt expires it
        log.warning(
            "job %s: delivery attempt %d failed (%s); next try in %.1f s",
            job.id,
            job.delivery_attempts,
            exc.reason,
            at - now,
        )
        kept = await self.store.update_fenced(job.id, job.fence, next_delivery_at=at)
        return kept or await self.store.get(job.id) or job

    async def _end(self, job: Job, target: JobState, reason: str, **values: Any) -> Job | None:
        moved = await self.store.transition(
            job.id, [S.SUCCEEDED, S.DELIVERING], target, reason, fence=job.fence, **values
        )
        if moved is None:
            return await self.store.get(job.id)
        await notify(self.listeners, moved)
        return moved
