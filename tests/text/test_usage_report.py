"""``/usage`` text, the CSV export and the audit lines: pure functions, no Discord."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.domain.guild_config import GuildConfig
from bot.domain.quota import GuildPolicy, Limits, Usage
from bot.services.audit import AuditEntry, AuditLog, chunk_lines, describe
from bot.services.tasks import notify
from bot.store import Store
from bot.text import usage_report as report


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def row(job_id: int, user_id: int = 1, **values: Any) -> dict[str, Any]:
    base = {
        "job_id": job_id,
        "user_id": user_id,
        "images": 1,
        "videos": 0,
        "usd": 0.1,
        "day": "2026-03-10",
        "state": "settled",
        "model": "nano-banana-2",
        "media": "image",
        "job_state": "delivered",
        "prompt": "a fox",
        "created_at": at("2026-03-10T12:00:00"),
    }
    return {**base, **values}


@pytest.mark.parametrize(
    ("period", "now", "hour", "span"),
    [
        ("today", "2026-03-10T12:00:00", 0, ("2026-03-10", "2026-03-10")),
        ("7d", "2026-03-10T12:00:00", 0, ("2026-03-04", "2026-03-10")),
        ("30d", "2026-03-10T12:00:00", 0, ("2026-02-09", "2026-03-10")),
        ("month", "2026-03-10T12:00:00", 0, ("2026-03-01", "2026-03-10")),
        # Before the rollover hour, it is still yesterday (and last month).
        ("today", "2026-03-01T03:00:00", 6, ("2026-02-28", "2026-02-28")),
        ("month", "2026-03-01T03:00:00", 6, ("2026-02-01", "2026-02-28")),
    ],
)
def test_periods_are_ranges_of_the_guilds_days(
    period: str, now: str, hour: int, span: tuple[str, str]
) -> None:
    got = report.period_span(period, at(now), hour)
    assert (got.since_day, got.until_day) == span


def test_unknown_period_is_an_error() -> None:
    with pytest.raises(ValueError):
        report.period_span("year", 0.0)


def test_refunded_charges_are_shown_apart_and_never_counted() -> None:
    rows = [
        row(1, images=4, usd=0.4),
        row(2, state="refunded", usd=0.1),
        row(3, images=0, videos=1, usd=1.2, media="video"),
        row(4, state="reserved"),
    ]
    assert report.totals(rows) == report.Totals(jobs=3, images=5, videos=1, usd=1.7, refunded=1)


def test_top_users_rank_by_spend_and_skip_fully_refunded_members() -> None:
    rows = [
        row(1, user_id=10, usd=0.1),
        row(2, user_id=20, usd=0.5),
        row(3, user_id=10, usd=0.1),
        row(4, user_id=30, state="refunded", usd=9.0),
    ]
    ranked = report.top_users(rows)
    assert [u for u, _ in ranked] == [20, 10]
    assert ranked[1][1].jobs == 2
    assert len(report.top_users(rows, limit=1)) == 1


def test_today_lines_show_use_left_and_the_next_reset() -> None:
    limits = Limits(images_per_day=5, videos_per_day=None, jobs_at_once=2, spend_per_day_usd=1.0)
    usage = Usage(images_today=3, spend_today_usd=0.25, active_jobs=1)
    now = at("2026-03-10T12:00:00")
    lines = report.today_lines(limits, usage, now=now, policy=GuildPolicy(rollover_hour_utc=6))
    assert lines[0] == "Images: 3 of 5 (2 left)"
    assert lines[1] == "Videos: 0 (no limit)"
    assert lines[2] == "Spend: $0.250 of $1.00 ($0.750 left)"
    assert lines[3] == "Running now: 1 of 2"
    reset = int(at("2026-03-11T06:00:00"))
    assert lines[-1] == f"Resets <t:{reset}:R> (<t:{reset}:f>)"


def test_cooldown_and_exemption_are_said() -> None:
    now = at("2026-03-10T12:00:00")
    lines = report.today_lines(Limits(cooldown_seconds=30), Usage(), now=now, policy=GuildPolicy())
    assert "Cooldown: 30 s between jobs" in lines
    exempt = report.today_lines(
        Limits(images_per_day=1), Usage(images_today=7), now=now, policy=GuildPolicy(), exempt=True
    )
    assert exempt[0] == "Images: 7" and "Exempt" in exempt[3]


def test_recent_lines_say_what_each_job_cost() -> None:
    lines = report.recent_lines(
        [
            row(7, images=4, usd=0.4, prompt="a `fox`\nin the snow " + "x" * 80),
            row(8, state="refunded", job_state="failed"),
            row(9, images=0, videos=1, usd=2.0, media="video", model="veo3"),
        ]
    )
    assert lines[0].startswith("#7 · nano-banana-2 · 4 image(s) · $0.400 · delivered · `a 'fox' in")
    assert lines[0].endswith("…`")
    assert lines[1].startswith("#8 · nano-banana-2 · 1 image(s) · refunded · failed")
    assert lines[2].startswith("#9 · veo3 · video · $2.00 · delivered")
    assert len(report.recent_lines([row(i) for i in range(30)], limit=10)) == 10


def test_budget_lines_compare_the_servers_spend() -> None:
    usage = Usage(guild_spend_today_usd=4.5, guild_spend_month_usd=30.0)
    lines = report.budget_lines(
        usage, GuildConfig(1, daily_budget_usd=5.0, monthly_budget_usd=None)
    )
    assert lines == ["Today: $4.50 of $5.00 ($0.500 left)", "This month: $30.00 (no budget)"]


def test_limits_line_marks_what_a_layer_leaves_unset() -> None:
    line = report.limits_line(Limits(images_per_day=0, spend_per_day_usd=2.5, cooldown_seconds=10))
    assert line == (
        "images/day: 0 · videos/day: — · at once: — · spend/day: $2.50 · cooldown: 10 s"
    )


def test_csv_has_every_job_with_cost_state_and_safe_cells() -> None:
    data = report.csv_bytes(
        [
            row(2, state="refunded", job_state="cancelled", prompt="=1+1"),
            row(1, user_id=123456789012345678, prompt='狐狸, "quoted"\nline', usd=0.04),
        ]
    )
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == list(report.CSV_COLUMNS)
    assert [r["job_id"] for r in rows] == ["1", "2"]  # oldest first
    first, second = rows
    assert first["user_id"] == "123456789012345678"
    assert first["prompt"] == '狐狸, "quoted"\nline'
    assert first["cost_usd"] == "0.0400" and first["charge"] == "settled"
    assert first["created_at_utc"] == "2026-03-10T12:00:00Z"
    assert second["cost_usd"] == "0.0000" and second["charge"] == "refunded"
    assert second["job_state"] == "cancelled"
    assert second["prompt"] == "'=1+1"
    assert report.csv_bytes([]).decode("utf-8-sig").strip() == ",".join(report.CSV_COLUMNS)


# -- audit lines ---------------------------------------------------------------------------


def entry(action: str, **values: Any) -> AuditEntry:
    return AuditEntry(
        id=1, guild_id=5, actor_id=values.pop("actor_id", 9), action=action, at=100.0, **values
    )


def test_audit_lines_name_who_did_what_to_whom() -> None:
    assert describe(entry("block", target="user:42", detail={"summary": "until unblocked"})) == (
        "<t:100:T> **Blocked** by <@9> · <@42>: until unblocked"
    )
    assert describe(entry("limits.set", target="role:7", detail={"summary": "a"})).endswith(
        "· <@&7>: a"
    )
    assert "server default" in describe(entry("limits.reset", target="guild"))
    refused = describe(
        entry("refused", target="nano-banana-2", detail={"reason": "Blocked\nfor spam"})
    )
    assert refused == "<t:100:T> **Refused** for <@9> · `nano-banana-2`: Blocked for spam"
    assert describe(entry("x", target="a`b")).count("`") == 2  # no breaking out of the span
    long = describe(entry("refused", detail={"reason": "x" * 5000}))
    assert len(long) <= 400 and long.endswith("…")


def test_audit_lines_are_packed_into_few_posts() -> None:
    lines = [f"line {i} " + "x" * 90 for i in range(50)]
    posts = chunk_lines(lines, limit=1000)
    assert all(len(p) <= 1000 for p in posts)
    assert "\n".join(posts).split("\n") == lines
    for post, after in itertools.pairwise(posts):  # each post is as full as it can be
        assert len(post) + 1 + len(after.split("\n")[0]) > 1000
    assert chunk_lines([]) == []


async def test_a_failing_sink_neither_stops_the_others_nor_the_caller(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db")
    try:
        seen: list[AuditEntry] = []

        async def broken(_: AuditEntry) -> None:
            raise RuntimeError("boom")

        async def ok(e: AuditEntry) -> None:
            seen.append(e)

        log = AuditLog(store)
        log.sinks += [broken, ok]
        recorded = await log.record(5, 9, "block", "user:42", {"summary": "s"})
        assert seen == [recorded]
        (stored,) = await store.audit_entries(5)
        assert (stored["id"], stored["action"], stored["target"]) == (
            recorded.id,
            "block",
            "user:42",
        )
        assert stored["detail"] == {"summary": "s"}
        await notify([broken], recorded)  # nothing raised
        await asyncio.sleep(0)
    finally:
        await store.close()
