"""The server's spend for its moderators: an audit-channel alert when the daily or the
monthly spend first passes 50, 80 and 100 % of its budget, and the 30-day usage chart."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain.catalog import Catalog
from bot.domain.guild_config import GuildConfig
from bot.domain.job import Job
from bot.domain.quota import next_reset, period_keys
from bot.services.audit import AuditLog
from bot.services.tasks import Tasks
from bot.text.usage_chart import UsageSeries, render_usage_chart

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger(__name__)

#: Percent of a budget at which moderators hear about it, once per period each.
LEVELS = (50, 80, 100)
CHART_DAYS = 30
#: Remembered (guild, period) pairs past which this process stops asking the store.
KNOWN_MAX = 10_000

ALERT_ACTION = "budget.alert"
#: The alert, as English templates translated where it is posted (fields: ``spent``,
#: ``budget``, ``percent``, ``resets``).
ALERTS = {
    ("d", False): "Atelier has spent {spent} of this server's {budget} daily budget "
    "({percent} %). New jobs are refused at 100 %; /settings budget changes it.",
    ("m", False): "Atelier has spent {spent} of this server's {budget} monthly budget "
    "({percent} %). New jobs are refused at 100 %; /settings budget changes it.",
    ("d", True): "Atelier has spent {spent} of this server's {budget} daily budget "
    "({percent} %). New jobs are refused until it resets {resets}; /settings budget changes it.",
    ("m", True): "Atelier has spent {spent} of this server's {budget} monthly budget "
    "({percent} %). New jobs are refused until it resets {resets}; /settings budget changes it.",
}


def levels_passed(spent: float, budget: float | None) -> tuple[int, ...]:
    """The alert levels ``spent`` has reached (none without a budget above zero)."""
    if budget is None or budget <= 0:
        return ()
    return tuple(level for level in LEVELS if spent >= budget * level / 100 - 1e-9)


def month_reset(now: float, rollover_hour_utc: int = 0) -> float:
    """When the month ``now`` counts towards ends (its days start at the given hour)."""
    shifted = datetime.fromtimestamp(now, UTC) - timedelta(hours=rollover_hour_utc)
    first = shifted.date().replace(day=1) + timedelta(days=32)
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    return (start + timedelta(hours=rollover_hour_utc)).timestamp()


def alert_detail(
    period: str, spent: float, budget: float, level: int, now: float, rollover_hour_utc: int
) -> dict[str, object]:
    """The audit entry's detail: the English summary, and the template and fields the
    audit channel translates."""
    kind = period[0]
    resets = (next_reset if kind == "d" else month_reset)(now, rollover_hour_utc)
    fields = {
        "spent": f"${spent:.2f}",
        "budget": f"${budget:.2f}",
        "percent": min(100, int(spent / budget * 100 + 1e-9)) if level < 100 else 100,
        "resets": f"<t:{int(resets)}:R>",
    }
    template = ALERTS[kind, level >= 100]
    return {
        "summary": template.format(**fields),
        "template": template,
        "fields": fields,
        "period": period,
        "level": level,
    }


class BudgetService:
    """Budget alerts after each accepted job, and the moderators' usage chart."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        catalog: Catalog,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.audit = audit
        self.catalog = catalog
        self.clock = clock
        #: (guild, period) -> the highest level known to be recorded (by anyone).
        self._known: dict[tuple[int, str], int] = {}
        self._tasks = Tasks()

    def watch(self, job: Job) -> Job:
        """Check the budgets after ``job`` was accepted, in the background (the member's
        answer does not wait); ``job`` is returned (``JobService.accepted``)."""
        self._tasks.spawn(self.after_accept(job), name=f"budget-{job.id}")
        return job

    async def close(self, grace: float = 5.0) -> None:
        """Let the checks under way finish (for a while)."""
        await self._tasks.close(grace)

    async def idle(self) -> None:
        """Wait until every check started so far is done."""
        await self._tasks.idle()

    async def after_accept(self, job: Job) -> None:
        """Alert once per level a job's charge made the server's spend pass. Costs one
        read of the running totals, none once both periods are past 100 %; nothing is
        recorded while the server has no audit channel (an alert waits for one)."""
        guild_id = job.guild_id
        if not guild_id:
            return
        config = await self.store.guild_config(guild_id)
        if config.audit_channel_id is None:
            return
        day, month = period_keys(job.created_at, config.rollover_hour_utc)
        budgets = {
            period: budget
            for period, budget in (
                (f"d:{day}", config.daily_budget_usd),
                (f"m:{month}", config.monthly_budget_usd),
            )
            if budget is not None and budget > 0 and self._known.get((guild_id, period), 0) < 100
        }
        if not budgets:
            return
        spend = await self.store.guild_spend(guild_id, budgets)
        for period, budget in budgets.items():
            await self._alert(config, period, spend.get(period, 0.0), budget)

    async def _alert(self, config: GuildConfig, period: str, spent: float, budget: float) -> None:
        """Record every level passed; post the highest, if this call recorded it first."""
        guild_id = config.guild_id
        passed = levels_passed(spent, budget)
        if not passed or self._known.get((guild_id, period), 0) >= passed[-1]:
            return
        taken = await self.store.record_budget_alerts(guild_id, period, passed)
        if len(self._known) >= KNOWN_MAX:
            self._known.clear()
        self._known[guild_id, period] = passed[-1]
        if passed[-1] not in taken:
            return  # another process (or an earlier run) posted this level or a higher one
        detail = alert_detail(
            period, spent, budget, passed[-1], self.clock(), config.rollover_hour_utc
        )
        log.info("guild %s: %s budget at level %s", guild_id, period, passed[-1])
        await self.audit.record(guild_id, None, ALERT_ACTION, None, detail)

    # -- the chart ---------------------------------------------------------------------

    async def series(self, guild_id: int, now: float | None = None) -> UsageSeries:
        """The last 30 days (today included) of the server's spend and jobs."""
        config = await self.store.guild_config(guild_id)
        today, _ = period_keys(self.clock() if now is None else now, config.rollover_hour_utc)
        last = date.fromisoformat(today)
        days = tuple((last - timedelta(days=n)).isoformat() for n in range(CHART_DAYS - 1, -1, -1))
        spend = await self.store.daily_spend(guild_id, days[0], days[-1])
        rows = await self.store.daily_jobs(guild_id, days[0], days[-1])
        order = list(self.catalog.families)
        family_of = {m.id: m.family for m in self.catalog.all()}
        counts = {family: [0] * len(days) for family in order}
        other = [0] * len(days)
        index = {day: i for i, day in enumerate(days)}
        for day, model, jobs in rows:
            counts.get(family_of.get(model, ""), other)[index[day]] += jobs
        labels = [self.catalog.families[f].get("label", f) for f in order]
        return UsageSeries(
            days=days,
            spend_usd=tuple(round(spend.get(day, 0.0), 6) for day in days),
            daily_budget_usd=config.daily_budget_usd,
            families=tuple(
                (label, tuple(counts[f])) for label, f in zip(labels, order, strict=True)
            ),
            other=tuple(other),
        )

    async def chart(self, guild_id: int, locale: str | None = None) -> bytes | None:
        """The 30-day chart as PNG bytes, drawn in a thread (the event loop goes on);
        ``None`` if it could not be drawn (logged: the text answer goes out without it)."""
        series = await self.series(guild_id)
        try:
            return await asyncio.to_thread(render_usage_chart, series, locale)
        except Exception:
            log.exception("guild %s: could not draw the usage chart", guild_id)
            return None
