"""Budget alerts and the usage chart's numbers, on both databases: one alert per level
and period, the highest when a charge jumps past several, none again after a restart
or from a second process, none recorded while there is no audit channel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.catalog import Catalog
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.domain.quota import Charge, period_keys
from bot.services.audit import AuditEntry, AuditLog, describe
from bot.services.budget_alerts import (
    ALERT_ACTION,
    BudgetService,
    levels_passed,
    month_reset,
)
from bot.store import Store
from tests.helpers.store import job_values

GUILD = 1
AUDIT_CHANNEL = 99
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC).timestamp()
S = JobState


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Budgets:
    """A store, the audit entries posted, and a budget service (re-made by ``restart``)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.posted: list[AuditEntry] = []
        self.catalog = Catalog.load()
        self.service = self.restart()

    def restart(self) -> BudgetService:
        audit = AuditLog(self.store)

        async def sink(entry: AuditEntry) -> None:
            self.posted.append(entry)

        audit.sinks.append(sink)
        self.service = BudgetService(self.store, audit, self.catalog, clock=self.clock)
        return self.service

    async def spend(self, usd: float, model: str = "nano-banana-2") -> Job:
        """A job charged ``usd`` now, then the check that follows every accept."""
        periods = period_keys(self.clock())
        job = await self.store.create_job_with_charge(
            job_values(guild_id=GUILD, model=model), Charge(1, 0, usd), periods, lambda _: None
        )
        await self.service.after_accept(job)
        return job

    def alerts(self) -> list[tuple[str, int]]:
        return [
            (str(e.detail["period"])[0], int(e.detail["level"]))
            for e in self.posted
            if e.action == ALERT_ACTION
        ]


@pytest.fixture
async def budgets(store_target: str):  # type: ignore[no-untyped-def]
    clock = Clock()
    store = await Store.open(store_target, clock=clock)
    await store.update_guild_config(
        GUILD, audit_channel_id=AUDIT_CHANNEL, daily_budget_usd=10.0, monthly_budget_usd=100.0
    )
    yield Budgets(store, clock)
    await store.close()


def test_levels_passed() -> None:
    assert levels_passed(4.99, 10) == ()
    assert levels_passed(5.0, 10) == (50,)
    assert levels_passed(8.1, 10) == (50, 80)
    assert levels_passed(0.1 + 0.2 + 0.7, 1.0) == (50, 80, 100)  # float sums still reach 100
    assert levels_passed(50, None) == () and levels_passed(50, 0) == ()


def test_a_month_resets_at_the_next_month_s_first_day() -> None:
    assert month_reset(NOW) == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    assert month_reset(NOW, 6) == datetime(2027, 1, 1, 6, tzinfo=UTC).timestamp()


async def test_each_level_is_posted_once_and_a_jump_posts_the_highest(budgets: Budgets) -> None:
    await budgets.spend(4.0)
    assert budgets.alerts() == []
    await budgets.spend(1.5)  # 55 %
    assert budgets.alerts() == [("d", 50)]
    await budgets.spend(1.0)  # 65 %: nothing new
    assert budgets.alerts() == [("d", 50)]
    await budgets.spend(3.5)  # 100 %, past 80 too: one post
    assert budgets.alerts() == [("d", 50), ("d", 100)]
    assert await budgets.store.budget_alerts_sent(GUILD, "d:2026-12-05") == {50, 80, 100}
    entry = budgets.posted[-1]
    assert entry.guild_id == GUILD and entry.actor_id is None
    assert describe(entry).endswith(
        "**Budget alert**: Atelier has spent $10.00 of this server's $10.00 daily budget "
        "(100 %). New jobs are refused until it resets <t:1796515200:R>; "
        "/settings budget changes it."
    )


async def test_a_restart_or_a_second_process_posts_nothing_again(budgets: Budgets) -> None:
    await budgets.spend(8.5)
    assert budgets.alerts() == [("d", 80)]
    budgets.restart()  # a new process: nothing remembered in memory
    await budgets.spend(0.5)
    assert budgets.alerts() == [("d", 80)]


async def test_a_refund_and_a_new_crossing_do_not_repeat_an_alert(budgets: Budgets) -> None:
    job = await budgets.spend(6.0)
    assert await budgets.store.transition(job.id, S.ACCEPTED, S.REJECTED, "refused")
    await budgets.spend(6.0)  # back to 60 % after the refund
    assert budgets.alerts() == [("d", 50)]


async def test_a_new_day_starts_again_and_the_month_counts_on(budgets: Budgets) -> None:
    await budgets.store.update_guild_config(GUILD, monthly_budget_usd=20.0)
    await budgets.spend(6.0)
    assert budgets.alerts() == [("d", 50)]
    budgets.clock.now += 24 * 3600
    await budgets.spend(5.0)  # 50 % of the new day; 55 % of the month
    assert budgets.alerts() == [("d", 50), ("d", 50), ("m", 50)]
    assert "monthly budget" in str(budgets.posted[-1].detail["summary"])


async def test_without_an_audit_channel_nothing_is_recorded_until_one_is_set(
    budgets: Budgets,
) -> None:
    await budgets.store.update_guild_config(GUILD, audit_channel_id=None)
    await budgets.spend(8.5)
    assert budgets.alerts() == []
    assert await budgets.store.budget_alerts_sent(GUILD, "d:2026-12-05") == set()
    await budgets.store.update_guild_config(GUILD, audit_channel_id=AUDIT_CHANNEL)
    await budgets.spend(0.1)  # the next job: the highest level passed so far
    assert budgets.alerts() == [("d", 80)]


async def test_no_budget_no_alert(budgets: Budgets) -> None:
    await budgets.store.update_guild_config(GUILD, daily_budget_usd=None, monthly_budget_usd=None)
    await budgets.spend(50.0)
    assert budgets.alerts() == []


async def test_the_alert_reads_in_the_server_s_language(budgets: Budgets) -> None:
    await budgets.spend(5.0)
    line = describe(budgets.posted[-1], "zh-CN")
    assert "预算提醒" in line and "每日预算 $10.00 中的 $5.00（50 %）" in line


async def test_the_chart_s_numbers_cover_thirty_days_by_family(budgets: Budgets) -> None:
    await budgets.store.update_guild_config(GUILD, daily_budget_usd=None, monthly_budget_usd=None)
    budgets.clock.now -= 3 * 24 * 3600
    await budgets.spend(1.0, model="seedream-4")
    budgets.clock.now += 3 * 24 * 3600
    await budgets.spend(0.5, model="seedream-4")
    await budgets.spend(0.25, model="veo3_fast")
    await budgets.spend(0.25, model="gone-model")
    series = await budgets.service.series(GUILD)
    assert len(series.days) == 30 and series.days[-1] == "2026-12-05"
    assert series.days[0] == "2026-11-06"
    assert series.spend_usd[-1] == pytest.approx(1.0) and series.spend_usd[-4] == 1.0
    assert sum(series.spend_usd) == pytest.approx(2.0)
    by_family = dict(series.families)
    assert list(by_family)[:2] == ["Seedream", "Nano Banana"]  # catalogue order
    assert by_family["Seedream"][-1] == 1 and by_family["Seedream"][-4] == 1
    assert by_family["Veo 3"][-1] == 1
    assert series.other[-1] == 1 and series.jobs == 4
    assert series.daily_budget_usd is None
    png = await budgets.service.chart(GUILD, "en-US")
    assert png is not None and png.startswith(b"\x89PNG")
