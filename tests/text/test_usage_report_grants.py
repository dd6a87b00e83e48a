"""What ``/usage`` and the export say about grants and moderators' refunds: pure
functions, no Discord."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from bot.domain.quota import Grant, GuildPolicy, Limits, Usage
from bot.text import usage_report as report

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp()


def charge(job_id: int, **values: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "user_id": 1,
        "images": 1,
        "videos": 0,
        "usd": 0.1,
        "day": "2026-03-10",
        "state": "settled",
        "model": "nano-banana-2",
        "media": "image",
        "job_state": "delivered",
        "prompt": "a fox",
        "created_at": NOW,
        "refunded_by": None,
        "refund_reason": None,
        **values,
    }


def grant(
    user_id: int, day: str, images: int = 0, videos: int = 0, usd: float = 0.0
) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "day": day,
        "images": images,
        "videos": videos,
        "usd": usd,
        "updated_at": NOW,
    }


def test_a_grant_is_said_by_what_it_raises() -> None:
    assert report.grant_text(Grant(images=2)) == "+2 image(s)"
    assert report.grant_text(Grant(2, 1, 1.5)) == "+2 image(s), +1 video(s), +$1.50 spend"
    assert report.grant_text(Grant(2, 1, 1.5), "zh-CN") == "+2 张图片, +1 个视频, +$1.50 花费"


def test_today_counts_against_the_granted_limits_and_names_the_grant() -> None:
    usage = Usage(images_today=5, grant=Grant(images=2))
    lines = report.today_lines(
        Limits(images_per_day=5, videos_per_day=1), usage, now=NOW, policy=GuildPolicy()
    )
    assert "Images: 5 of 7 (2 left)" in lines
    assert "Videos: 0 of 1 (1 left)" in lines
    assert "Granted by a moderator for today: +2 image(s)" in lines
    plain = report.today_lines(Limits(images_per_day=5), Usage(), now=NOW, policy=GuildPolicy())
    assert not [line for line in plain if "Granted" in line]


def test_a_moderators_refund_names_who_gave_it() -> None:
    rows = [charge(2, state="refunded", refunded_by=42), charge(1, state="refunded")]
    first, second = report.recent_lines(rows)
    assert "refunded by <@42>" in first
    assert " · refunded · " in second  # a job that ended without a result


def test_the_export_has_refund_columns_and_a_row_per_grant() -> None:
    rows = [
        charge(1),
        charge(2, state="refunded", refunded_by=42, refund_reason="=blurry"),
        charge(3, day="2026-03-09"),
    ]
    grants = [grant(1, "2026-03-10", images=2), grant(5, "2026-03-09", usd=1.25)]
    data = report.csv_bytes(rows, grants)
    got = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(got[0]) == list(report.CSV_COLUMNS)
    # Day by day, oldest first; a day's grants before its jobs.
    assert [(r["day"], r["job_id"], r["charge"]) for r in got] == [
        ("2026-03-09", "", "grant"),
        ("2026-03-09", "3", "settled"),
        ("2026-03-10", "", "grant"),
        ("2026-03-10", "1", "settled"),
        ("2026-03-10", "2", "refunded"),
    ]
    refunded = got[4]
    assert (refunded["cost_usd"], refunded["refunded_by"]) == ("0.0000", "42")
    assert refunded["refund_reason"] == "'=blurry"  # never a formula in a spreadsheet
    assert (got[0]["user_id"], got[0]["granted_usd"], got[0]["granted_images"]) == (
        "5",
        "1.2500",
        "0",
    )
    assert got[2]["granted_images"] == "2" and got[3]["granted_images"] == ""


def test_the_refund_notice_names_the_job_the_amount_and_the_reason() -> None:
    text = report.refund_notice("en-US", 7, 12, "a fox", 0.1, "blurry")
    assert text == (
        "<@7> a moderator refunded your job #12 (a fox): $0.100 is given back and it no "
        "longer counts against your limits. Reason: blurry"
    )
    assert "Reason" not in report.refund_notice(None, 7, 12, "a fox", 0.1, None)
    assert "原因：blurry" in report.refund_notice("zh-CN", 7, 12, "a fox", 0.1, "blurry")
