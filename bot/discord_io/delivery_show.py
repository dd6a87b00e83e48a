"""``/show``: post a past job's results again as new messages, leaving the job as it is."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import discord

from bot.discord_io.delivery_files import DeliveryConfig, fetch_result, make_workdir, remove_tree
from bot.discord_io.delivery_message import part_nonce, post_part, upload_limit
from bot.discord_io.posted_copy import links_expired, posted_files
from bot.domain.catalog import Catalog
from bot.domain.errors import MissingBotPermissions, UserFacingError
from bot.domain.job import Job
from bot.maxapi import download as dl
from bot.text.delivery_plan import Outcome, ResultFile, plan_messages
from bot.text.i18n import t
from bot.text.job_pages import copy_gone_text, shown_by

log = logging.getLogger(__name__)

SHOW_CONCURRENCY = 2  # re-posts downloading at once (disk and bandwidth)


class Reposter:
    """Re-posts for ``/show``, through a download session of their own that, like
    delivery's, refuses private addresses (opened on first use)."""

    def __init__(self, config: DeliveryConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(SHOW_CONCURRENCY)

    @classmethod
    def for_api(cls, maxapi_base_url: str) -> Reposter:
        return cls(DeliveryConfig.for_api(maxapi_base_url))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def repost(
        self,
        job: Job,
        channel: discord.abc.Messageable,
        *,
        by: int,
        locale: str,
        spoiler: bool = False,
        catalog: Catalog | None = None,
    ) -> list[int]:
        """Download the job's files again and post them in ``channel`` on behalf of member
        ``by``; return the new message ids. Not a delivery: nothing about the job changes.
        With the ``catalog`` the re-post offers Upscale where the original did."""
        limit = upload_limit(channel)
        cap = min(limit, self.config.max_download_bytes)
        async with self._slots:
            workdir = make_workdir(f"atelier-show{job.id}-", self.config.temp_dir)
            try:
                if links_expired(job, self.clock()):  # Max API's are gone: the posted copy
                    results = await self._from_copy(job, channel, workdir, cap, locale)
                else:
                    results = await asyncio.gather(
                        *(
                            self._fetch(job.id, i, url, workdir, cap)
                            for i, url in enumerate(job.result_urls)
                        )
                    )
                if all(r.outcome == Outcome.GONE for r in results):
                    raise UserFacingError(
                        t(
                            locale,
                            "Max API no longer has the files of job #{job_id}.",
                            job_id=job.id,
                        )
                    )
                plans = plan_messages(results, url_count=len(results), upload_limit=limit)
                base = f"show{job.id}-{secrets.token_hex(3)}"
                head = shown_by(by, locale)
                try:
                    return [
                        await post_part(
                            channel,
                            job,
                            plan,
                            nonce=part_nonce(base, plan.part),
                            shown_by=head,
                            spoiler=spoiler,
                            catalog=catalog,
                        )
                        for plan in plans
                    ]
                except (discord.Forbidden, discord.NotFound) as exc:
                    raise MissingBotPermissions(
                        t(locale, "Discord refused the post here (code {code}).", code=exc.code)
                    ) from exc
            finally:
                await remove_tree(workdir)

    async def _from_copy(
        self, job: Job, channel: discord.abc.Messageable, workdir: Path, cap: int, locale: str
    ) -> list[ResultFile]:
        """The files of the bot's own result messages, downloaded through Discord."""
        files = await posted_files(getattr(channel, "guild", None), job)
        if not files:
            raise UserFacingError(copy_gone_text(job.id, locale))
        results = []
        for index, file in enumerate(files):
            if file.size > cap:
                results.append(ResultFile(index, file.url, Outcome.TOO_BIG, size=file.size))
                continue
            path = workdir / f"copy-{index + 1}{Path(file.filename).suffix}"
            try:
                await file.save(path)
            except (discord.HTTPException, OSError) as exc:
                log.info("job %s: /show could not read posted file %d: %s", job.id, index + 1, exc)
                results.append(ResultFile(index, file.url, Outcome.UNREACHABLE))
                continue
            results.append(ResultFile(index, file.url, Outcome.FILE, size=file.size, path=path))
        return results

    async def _fetch(
        self, job_id: int, index: int, url: str, workdir: Path, cap: int
    ) -> ResultFile:
        if self._session is None or self._session.closed:
            self._session = dl.download_session(self.config.allowed_hosts)
        try:
            return await fetch_result(self._session, self.config, job_id, index, url, workdir, cap)
        except dl.NetworkError as exc:
            log.info("job %s: /show could not fetch result %d: %s", job_id, index + 1, exc)
            return ResultFile(index, url, Outcome.UNREACHABLE)
