"""What the commands read: jobs, a server's settings and usage, and the bot's health.

The cogs read through this (never the store), with plain values in and out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import maxapi
from bot.domain.guild_config import GuildConfig
from bot.domain.job import Job
from bot.domain.quota import period_keys
from bot.services.metrics import JobGauges, read_job_gauges
from bot.services.queue import QueuePage, QueuePlaces, read_page, read_places
from bot.store import Store
from bot.text.job_pages import page_count

PROBE_TASK_ID = "atelier-status-probe"
PROBE_TIMEOUT = 8.0


@dataclass(frozen=True, slots=True)
class ApiProbe:
    """How a query to Max API went: reachable at all, how fast, what it said."""

    reachable: bool
    latency: float  # seconds
    detail: str


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """``/status``: one server's jobs, Max API's health, and today's spend."""

    gauges: JobGauges
    api: ApiProbe
    spent_today_usd: float
    daily_budget_usd: float | None


async def probe_api(api: maxapi.MaxApiClient, within: float = PROBE_TIMEOUT) -> ApiProbe:
    """Query a task id that cannot exist; "not found" is the healthy answer (free, and
    it proves both reachability and that the key is accepted)."""
    began = time.perf_counter()
    try:
        async with asyncio.timeout(within):
            await api.get(PROBE_TASK_ID)
        detail, reachable = "ok", True
    except maxapi.TaskNotFound:
        detail, reachable = "ok", True
    except maxapi.Unauthorized:
        detail, reachable = "API key refused", True
    except (maxapi.NetworkError, TimeoutError) as exc:
        detail, reachable = f"unreachable ({type(exc).__name__})", False
    except maxapi.MaxApiError as exc:
        status = exc.http_status if exc.http_status is not None else "?"
        detail, reachable = f"answered with an error (HTTP {status})", exc.http_status is not None
    return ApiProbe(reachable, time.perf_counter() - began, detail)


class JobQueries:
    """Reads for ``/jobs``, ``/show``, ``/cancel``, autocomplete, buttons and ``/status``."""

    def __init__(
        self, store: Store, api: maxapi.MaxApiClient, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.api = api
        self.clock = clock

    async def get(self, job_id: int) -> Job | None:
        return await self.store.get(job_id)

    async def in_guild(self, job_id: int, guild_id: int | None) -> Job | None:
        """The job if it belongs to this server; another server's reads as unknown."""
        job = await self.store.get(job_id)
        return job if job is not None and job.guild_id == guild_id else None

    async def candidates(
        self,
        guild_id: int,
        user_id: int,
        typed: str,
        *,
        active: bool,
        others: bool,
        limit: int,
    ) -> list[Job]:
        """Jobs an autocomplete may offer, newest first: the member's own, the whole
        server's when ``others``, and an older job typed by its id. Typed text (not an
        id) is searched in the prompts by the database."""
        digits = typed.strip().lstrip("#")
        search = "" if digits.isdigit() else typed.strip()
        found, _ = await self.store.history_page(
            guild_id, user_id, search=search, limit=limit, active=active, count=False
        )
        if others:
            everyone, _ = await self.store.history_page(
                guild_id, None, search=search, limit=limit, active=active, count=False
            )
            merged = {job.id: job for job in [*found, *everyone]}
            found = sorted(merged.values(), key=lambda job: job.id, reverse=True)
        if digits.isdigit() and all(job.id != int(digits) for job in found):
            exact = await self.store.get(int(digits))
            if exact is not None:
                found.insert(0, exact)
        return found

    async def history(
        self, guild_id: int, user_id: int, *, page: int, search: str, per_page: int
    ) -> tuple[list[Job], int, int]:
        """A page of the member's jobs here, newest first: the jobs, how many match in
        all, and the page shown (``page`` kept within the pages there are)."""
        jobs, total = await self.store.history_page(
            guild_id, user_id, search=search, offset=(page - 1) * per_page, limit=per_page
        )
        last = page_count(total, per_page)
        if page > last:  # jobs went away since the page was shown: show the last one
            page = last
            jobs, total = await self.store.history_page(
                guild_id, user_id, search=search, offset=(page - 1) * per_page, limit=per_page
            )
        return jobs, total, page

    async def guild_config(self, guild_id: int) -> GuildConfig:
        return await self.store.guild_config(guild_id)

    async def queue_page(self, guild_id: int, page: int) -> QueuePage:
        """``/queue`` for moderators: a page of the server's active jobs, oldest first."""
        return await read_page(self.store, guild_id, page)

    async def queue_places(self, guild_id: int, user_id: int) -> QueuePlaces:
        """``/queue`` for members: their own active jobs and each one's place."""
        return await read_places(self.store, guild_id, user_id)

    async def status(self, guild_id: int, user_id: int) -> ServerStatus:
        """This server's jobs by state, Max API's answer, and today's spend."""
        config = await self.store.guild_config(guild_id)
        now = self.clock()
        day, month = period_keys(now, config.rollover_hour_utc)
        gauges, api, usage = await asyncio.gather(
            read_job_gauges(self.store, now, guild_id),
            probe_api(self.api),
            self.store.usage(guild_id, user_id, day, month),
        )
        return ServerStatus(gauges, api, usage.guild_spend_today_usd, config.daily_budget_usd)
