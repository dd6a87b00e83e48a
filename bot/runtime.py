"""Everything one running Atelier needs, started and stopped in the right order.

``python -m bot``, the end-to-end tests and the crash tests all build the bot through
:class:`Runtime`, so what is tested is what runs. Start-up order matters for money
and delivery: the store opens (migrations), then :meth:`JobService.recover` marks jobs
caught mid-submit as ``lost`` *before* anything new is submitted, the poller resumes
every task id, and the delivery loop starts once the gateway is ready (it needs the
guild caches for upload limits). Shutdown reverses it, so in-flight writes finish.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp

from bot import USER_AGENT
from bot.discord_io.announcer import Announcer
from bot.discord_io.audit_sink import DiscordAuditSink
from bot.discord_io.confirm_prompt import ConfirmPrompts
from bot.discord_io.delivery import Deliverer, DeliveryConfig
from bot.discord_io.dm_notice import DmNotice
from bot.discord_io.pacing import GlobalPacer
from bot.discord_io.progress_updater import EDIT_INTERVAL, ProgressUpdater
from bot.domain.catalog import Catalog
from bot.domain.poll_schedule import PollSchedule
from bot.domain.quota import OperatorCap
from bot.healthcheck import HEARTBEAT_EVERY, heartbeat_path, write_heartbeat
from bot.maxapi import MaxApiClient
from bot.maxapi.download import download_session
from bot.services import cluster
from bot.services.audit import AuditLog
from bot.services.budget_alerts import BudgetService
from bot.services.cluster import Cluster
from bot.services.confirmation import ConfirmationService
from bot.services.grants import GrantService
from bot.services.guild_settings import GuildSettingsService
from bot.services.job_queries import JobQueries
from bot.services.jobs import JobService
from bot.services.metrics import JobGauges, Metrics, MetricsServer, read_job_gauges
from bot.services.moderation import ModerationService
from bot.services.poller import Poller
from bot.services.preferences import PreferenceService
from bot.services.reports import ReportService
from bot.services.tasks import Tasks
from bot.services.webhook import CallbackReceiver
from bot.settings import DatabaseUnavailable, Settings
from bot.store import Store, StoreUnavailable

if TYPE_CHECKING:
    from bot.discord_io.client import AtelierBot, Services

log = logging.getLogger(__name__)

LOOK_ROUND_TRIP = 0.5  # seconds: a slow Max API answer, for sizing the poller's slots


class Runtime:
    """Owns the HTTP session, the store, the Max API client and the background loops."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        *,
        clock: Callable[[], float] = time.time,
        delivery_config: DeliveryConfig | None = None,
        api_options: dict[str, Any] | None = None,
        poller_options: dict[str, Any] | None = None,
        progress_interval: float = EDIT_INTERVAL,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.clock = clock
        self._delivery_config = delivery_config
        self._api_options = api_options or {}
        self._poller_options = poller_options or {}
        self._progress_interval = progress_interval
        self.http: aiohttp.ClientSession | None = None
        self.store: Store | None = None
        self.api: MaxApiClient | None = None
        self.audit: AuditLog | None = None
        self.jobs: JobService | None = None
        self.queries: JobQueries | None = None
        self.progress: ProgressUpdater | None = None
        self.moderation: ModerationService | None = None
        self.budget: BudgetService | None = None
        self.grants: GrantService | None = None
        self.guild_settings: GuildSettingsService | None = None
        self.reports: ReportService | None = None
        self.preferences: PreferenceService | None = None
        self.audit_sink: DiscordAuditSink | None = None
        self.poller: Poller | None = None
        self.receiver: CallbackReceiver | None = None
        self.metrics: Metrics | None = None
        self.metrics_server: MetricsServer | None = None
        self.deliverer: Deliverer | None = None
        self.downloads: aiohttp.ClientSession | None = None
        self.cluster: Cluster | None = None
        self._pacer: GlobalPacer | None = None
        self._tasks = Tasks()

    async def __aenter__(self) -> Runtime:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        settings = self.settings
        url = settings.database_url
        try:  # first: nothing else is open yet when the database cannot be
            self.store = await Store.open(
                url.get() if url else settings.database_path, clock=self.clock
            )
        except StoreUnavailable as exc:
            raise DatabaseUnavailable(None if url else settings.database_path, str(exc)) from exc
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60), headers={"User-Agent": USER_AGENT}
        )
        self.api = MaxApiClient(
            self.http, settings.maxapi_base_url, settings.maxapi_key, **self._api_options
        )
        self.audit = AuditLog(self.store)
        operator_cap = OperatorCap(
            settings.operator_budget_usd_per_day, settings.operator_budget_usd_per_month
        )
        self.jobs = JobService(
            self.store,
            self.catalog,
            self.api,
            audit=self.audit,
            schedule=PollSchedule(
                scale=settings.poll_scale,
                first_poll=1.5 if settings.webhook_public_url else None,
            ),
            callback_base_url=settings.webhook_public_url,
            clock=self.clock,
            allowed_guild_ids=settings.allowed_guild_ids,
            operator_cap=operator_cap,
            cancel_refunds=settings.cancel_refunds,
        )
        self.queries = JobQueries(self.store, self.api, clock=self.clock)
        self.progress = ProgressUpdater(
            self.jobs, interval=self._progress_interval, clock=self.clock
        )
        self.moderation = ModerationService(self.store, self.audit, clock=self.clock)
        self.budget = BudgetService(self.store, self.audit, self.catalog, clock=self.clock)
        self.jobs.accepted = self.budget.watch
        self.grants = GrantService(self.store, self.audit, clock=self.clock)
        self.guild_settings = GuildSettingsService(
            self.store, self.audit, self.catalog, operator_cap
        )
        self.reports = ReportService(self.store, self.audit, clock=self.clock)
        self.preferences = PreferenceService(self.store, self.catalog, clock=self.clock)
        rate = settings.poll_rate or settings.poll_rate_max  # auto: the ceiling
        poller_options = {
            "rate": rate,
            "adaptive": settings.poll_rate is None,
            "concurrency": looks_at_once(rate),
            **self._poller_options,
        }
        self.poller = Poller(self.jobs, **poller_options)
        self.cluster = Cluster(self.jobs, shards=settings.shard_label, on_count=self._share)
        self.metrics = Metrics(self.job_gauges)
        self.receiver = CallbackReceiver.from_settings(
            settings, self.jobs, limiter=self.poller.limiter, metrics=self.metrics
        )
        self.metrics_server = MetricsServer.from_settings(settings, self.metrics)

    def services(self) -> Services:
        """The services a bot built on this runtime hands to its cogs (after :meth:`open`)."""
        from bot.discord_io.client import Services

        assert self.jobs is not None and self.queries is not None, "Runtime.open() first"
        assert self.progress is not None and self.audit is not None
        assert self.moderation is not None and self.guild_settings is not None
        assert self.budget is not None
        assert self.reports is not None
        assert self.grants is not None
        assert self.preferences is not None
        return Services(
            settings=self.settings,
            catalog=self.catalog,
            jobs=self.jobs,
            queries=self.queries,
            progress=self.progress,
            moderation=self.moderation,
            guild_settings=self.guild_settings,
            audit=self.audit,
            budget=self.budget,
            reports=self.reports,
            grants=self.grants,
            preferences=self.preferences,
            on_setup=[self.start],
            on_close=[self.stop_loops],
            command_digest_store=StoredDigest(self.store) if self.store else None,
        )

    async def start(self, bot: AtelierBot) -> None:
        """Called from the bot's ``setup_hook``: recover, then start the loops."""
        assert self.jobs is not None and self.store is not None
        config = self._delivery_config or DeliveryConfig.for_api(self.settings.maxapi_base_url)
        # Result downloads resolve names through a resolver that refuses private addresses
        # (DNS rebinding), except the configured Max API host.
        self.downloads = download_session(config.allowed_hosts)
        self.deliverer = Deliverer(
            bot,
            self.store,
            self.downloads,
            config,
            notify=self.jobs.notify_listeners,
            clock=self.clock,
            owner=self.jobs.process_id,
            catalog=self.catalog,
        )
        self.jobs.wake_delivery = self.deliverer.wake
        if self.settings.discord_api_base_url is None:
            # Without a REST proxy to coordinate them, processes split the global limit.
            self._pacer = bot.pacer
        assert self.progress is not None and self.audit is not None
        self.progress.start(bot)
        self.jobs.listeners.append(ConfirmPrompts(bot, self.jobs))
        self.jobs.listeners.append(Announcer(bot, self.store))
        assert self.preferences is not None
        self.jobs.listeners.append(DmNotice(bot, self.preferences))  # once the end is posted
        self.audit_sink = DiscordAuditSink(bot, self.store.guild_config)
        self.audit.sinks.append(self.audit_sink.deliver)
        self._tasks.spawn(self.progress.refresh_active(), name="progress-refresh")
        await self.jobs.recover()
        assert self.poller is not None
        self.poller.start()
        if self.receiver is not None:
            await self.receiver.start()
        if self.metrics_server is not None:
            await self.metrics_server.start()
        self._tasks.spawn(self._heartbeat(), name="heartbeat")
        self._tasks.spawn(self._cluster_beat(), name="cluster-heartbeat")
        self._tasks.spawn(ConfirmationService(self.jobs).run(), name="confirm-sweep")
        self._tasks.spawn(self._deliver_when_ready(bot), name="ready")

    async def _deliver_when_ready(self, bot: AtelierBot) -> None:
        await bot.wait_until_ready()
        if self.deliverer is not None:
            self.deliverer.start()

    async def _heartbeat(self) -> None:
        """Touch the heartbeat file next to the database while the event loop runs, so
        ``python -m bot.healthcheck`` (the container's healthcheck) can tell a live bot
        from a hung one whether or not the callback listener is on; and clear expired
        interaction tokens on the same beat."""
        path = heartbeat_path(self.settings.database_path)
        while True:
            try:
                await asyncio.to_thread(write_heartbeat, path, time.time())
            except OSError as exc:
                log.warning("could not write the heartbeat file %s: %s", path, exc)
            await self._forget_expired_tokens()
            await asyncio.sleep(HEARTBEAT_EVERY)

    def _share(self, live: int) -> None:
        """``POLL_RATE`` (and, without a REST proxy, Discord's global limit) is the whole
        cluster's: this process takes its part of it."""
        if self.poller is not None and self.poller.limiter is not None:
            self.poller.limiter.share(live)
        if self._pacer is not None:
            self._pacer.share(live)

    async def _cluster_beat(self) -> None:
        """Say this process is alive in the store; with several, share the poll rate and
        take over the unsent jobs of dead ones."""
        assert self.cluster is not None
        while True:
            try:
                await self.cluster.beat()
            except Exception:
                log.exception("could not record this process's heartbeat")
            await asyncio.sleep(cluster.HEARTBEAT_SECONDS)

    async def _forget_expired_tokens(self) -> None:
        """Clear interaction tokens Discord no longer accepts (nothing to steal from a copy)."""
        if self.store is None:
            return
        try:
            await self.store.forget_expired_tokens(self.clock())
        except Exception:
            log.exception("could not clear expired interaction tokens")

    async def job_gauges(self) -> JobGauges:
        """Jobs by state and the oldest unfinished job's age, read from the store."""
        assert self.store is not None
        return await read_job_gauges(self.store, self.clock())

    async def stop_loops(self) -> None:
        """Stop taking new work and let in-flight work finish (idempotent)."""
        await self._tasks.close()
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        if self.receiver is not None:
            await self.receiver.stop()
        if self.poller is not None:
            await self.poller.stop()
        if self.deliverer is not None:
            await self.deliverer.close()
        if self.jobs is not None:
            await self.jobs.close()
        if self.budget is not None:
            await self.budget.close()
        if self.cluster is not None and self.store is not None:
            try:  # others need not wait for this process's heartbeat to go stale
                await self.cluster.leave()
            except Exception:
                log.exception("could not record this process's stop")
            self.cluster = None
        if self.progress is not None:
            await self.progress.close()
        if self.audit_sink is not None:
            if self.audit is not None and self.audit_sink.deliver in self.audit.sinks:
                self.audit.sinks.remove(self.audit_sink.deliver)
            await self.audit_sink.close()

    async def close(self) -> None:
        """Stop the loops, then close the sessions and the database."""
        await self.stop_loops()
        if self.downloads is not None:
            await self.downloads.close()
            self.downloads = None
        if self.http is not None:
            await self.http.close()
        if self.store is not None:
            await self.store.close()


class StoredDigest:
    """The digest of the last synced command set, in the database: every process sees
    what one of them synced, so the others skip the sync."""

    KEY = "command_digest"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self) -> str | None:
        return await self.store.get_state(self.KEY)

    async def set(self, digest: str) -> None:
        await self.store.set_state(self.KEY, digest)


def looks_at_once(rate: float) -> int:
    """Enough looks in flight for ``rate`` (``POLL_RATE`` or auto's ceiling) even when Max
    API takes half a second to answer (16 at least): the slots must not cap the rate."""
    return max(16, math.ceil(rate * LOOK_ROUND_TRIP))
