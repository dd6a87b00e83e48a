"""What ``/usage``, ``/limits`` and ``/settings`` say, and the rows of a usage export.
Refunded charges are shown but never counted, as in the limit checks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.guild_config import GuildConfig
from bot.domain.quota import (
    DIMENSIONS,
    Grant,
    GuildPolicy,
    Limits,
    Usage,
    next_reset,
    period_keys,
    remaining,
    with_grant,
)
from bot.text.i18n import t

#: ``/usage period`` choices: value → label (each ends today).
PERIODS: dict[str, str] = {
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "month": "This month",
}
RECENT_JOBS = 10
TOP_USERS = 10
PROMPT_PREVIEW = 40
#: Short names for the limit dimensions, in DIMENSIONS order.
DIMENSION_LABELS: dict[str, str] = {
    "images_per_day": "images/day",
    "videos_per_day": "videos/day",
    "jobs_at_once": "at once",
    "spend_per_day_usd": "spend/day",
    "cooldown_seconds": "cooldown",
}
CSV_COLUMNS = (
    "job_id",
    "created_at_utc",
    "day",
    "user_id",
    "model",
    "media",
    "images",
    "videos",
    "cost_usd",
    "charge",
    "job_state",
    "prompt",
    # A moderator's refund (/usage refund) of the row's job; a grant row (charge "grant",
    # no job) gives a member's extra allowance for its day (/usage grant).
    "refunded_by",
    "refund_reason",
    "granted_images",
    "granted_videos",
    "granted_usd",
)
#: A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Span:
    """A reporting period as a range of day keys (inclusive), in the guild's days."""

    period: str
    since_day: str
    until_day: str


@dataclass(frozen=True, slots=True)
class Totals:
    jobs: int = 0
    images: int = 0
    videos: int = 0
    usd: float = 0.0
    refunded: int = 0


def period_span(period: str, now: float, rollover_hour_utc: int = 0) -> Span:
    """The days ``period`` covers, ending today (days start at the rollover hour)."""
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}")
    today, month = period_keys(now, rollover_hour_utc)
    if period == "month":
        return Span(period, f"{month}-01", today)
    back = {"today": 0, "7d": 6, "30d": 29}[period]
    first = datetime.strptime(today, "%Y-%m-%d") - timedelta(days=back)
    return Span(period, first.strftime("%Y-%m-%d"), today)


def counted(row: Mapping[str, Any]) -> bool:
    return row.get("state") != "refunded"


def totals(rows: Iterable[Mapping[str, Any]]) -> Totals:
    """What the rows add up to; refunded charges are counted apart, never in the sums."""
    jobs = images = videos = refunded = 0
    usd = 0.0
    for row in rows:
        if not counted(row):
            refunded += 1
            continue
        jobs += 1
        images += int(row["images"])
        videos += int(row["videos"])
        usd += float(row["usd"])
    return Totals(jobs, images, videos, round(usd, 6), refunded)


def top_users(
    rows: Iterable[Mapping[str, Any]], limit: int = TOP_USERS
) -> list[tuple[int, Totals]]:
    """The members who spent most in the rows (then most images), most first."""
    per_user: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        per_user.setdefault(int(row["user_id"]), []).append(row)
    ranked = [(user_id, totals(user_rows)) for user_id, user_rows in per_user.items()]
    ranked = [(u, s) for u, s in ranked if s.jobs]
    ranked.sort(key=lambda item: (-item[1].usd, -item[1].images - item[1].videos, item[0]))
    return ranked[:limit]


# -- text --------------------------------------------------------------------------------


def money(usd: float) -> str:
    return f"${usd:.2f}" if usd >= 1 or usd == 0 else f"${usd:.3f}"


def limit_value(name: str, value: Any, locale: str | None = None) -> str:
    if value is None:
        return t(locale, "no limit")
    if name == "spend_per_day_usd":
        return money(float(value))
    if name == "cooldown_seconds":
        return f"{int(value)} s"
    return str(value)


def limits_line(limits: Limits, locale: str | None = None, *, unset: str = "—") -> str:
    """Every dimension of one layer on one line; ``unset`` marks what the layer leaves
    to the one below."""
    return " · ".join(
        f"{t(locale, DIMENSION_LABELS[name])}: "
        + (unset if value is None else limit_value(name, value, locale))
        for name, value in limits.as_dict().items()
    )


def changes_summary(before: Limits, after: Limits, locale: str | None = None) -> str:
    """What changed, in English for the audit log (``locale=None``) or for the reader."""
    parts = []
    for name in DIMENSIONS:
        old, new = getattr(before, name), getattr(after, name)
        if old == new:
            continue
        label = t(locale, DIMENSION_LABELS[name])
        if new is None:
            parts.append(t(locale, "{label} cleared", label=label))
        else:
            old_text = "—" if old is None else limit_value(name, old, locale)
            parts.append(f"{label} {old_text} → {limit_value(name, new, locale)}")
    return "; ".join(parts) or t(locale, "no change")


def block_text(reason: str | None, until: float | None, locale: str | None = None) -> str:
    """How long a block lasts and why: ``until <t:…:f> (<t:…:R>) — reason: spam``."""
    text = (
        t(locale, "until <t:{at}:f> (<t:{at}:R>)", at=int(until))
        if until
        else t(locale, "until unblocked")
    )
    if reason:
        text += " — " + t(locale, "reason: {reason}", reason=reason)
    return text


def channels_text(config: GuildConfig, locale: str | None = None) -> str:
    """Where Atelier may be used in a server."""
    mentions = " ".join(f"<#{c}>" for c in sorted(config.channel_ids))[:900]
    if config.channel_mode == "allow":
        return t(locale, "only in {channels}", channels=mentions or "—")
    if config.channel_mode == "deny":
        return t(locale, "everywhere except {channels}", channels=mentions or "—")
    return t(locale, "every channel")


def _of(used: str, limit: Any, left: Any, name: str, locale: str | None) -> str:
    if limit is None:
        return t(locale, "{used} (no limit)", used=used)
    return t(
        locale,
        "{used} of {limit} ({left} left)",
        used=used,
        limit=limit_value(name, limit, locale),
        left=limit_value(name, left, locale),
    )


def today_lines(
    limits: Limits,
    usage: Usage,
    *,
    now: float,
    policy: GuildPolicy,
    exempt: bool = False,
    locale: str | None = None,
) -> list[str]:
    """Today's use against the limits that apply, and when the day starts again."""
    limits = with_grant(limits, usage.grant)  # a moderator's grant for today
    left = remaining(limits, usage)
    if exempt:
        lines = [
            t(locale, "Images: {n}", n=usage.images_today),
            t(locale, "Videos: {n}", n=usage.videos_today),
            t(locale, "Spend: {usd}", usd=money(usage.spend_today_usd)),
            t(locale, "Exempt from member limits (exempt role); the server budget still holds."),
        ]
    else:
        lines = [
            f"{label}: {_of(used, getattr(limits, name), left[name], name, locale)}"
            for label, used, name in (
                (t(locale, "Images"), str(usage.images_today), "images_per_day"),
                (t(locale, "Videos"), str(usage.videos_today), "videos_per_day"),
                (t(locale, "Spend"), money(usage.spend_today_usd), "spend_per_day_usd"),
            )
        ]
        running = (
            str(usage.active_jobs)
            if limits.jobs_at_once is None
            else t(locale, "{n} of {limit}", n=usage.active_jobs, limit=limits.jobs_at_once)
        )
        lines.append(t(locale, "Running now") + ": " + running)
        if limits.cooldown_seconds:
            lines.append(t(locale, "Cooldown: {s} s between jobs", s=limits.cooldown_seconds))
        if usage.grant:
            granted = grant_text(usage.grant, locale)
            lines.append(t(locale, "Granted by a moderator for today: {grant}", grant=granted))
    reset = int(next_reset(now, policy.rollover_hour_utc))
    lines.append(t(locale, "Resets <t:{at}:R> (<t:{at}:f>)", at=reset))
    return lines


def period_line(span_totals: Totals, locale: str | None = None) -> str:
    return t(
        locale,
        "{jobs} job(s): {images} image(s), {videos} video(s), {usd}",
        jobs=span_totals.jobs,
        images=span_totals.images,
        videos=span_totals.videos,
        usd=money(span_totals.usd),
    ) + (
        t(locale, " · {n} refunded (not counted)", n=span_totals.refunded)
        if span_totals.refunded
        else ""
    )


def recent_lines(
    rows: Sequence[Mapping[str, Any]], limit: int = RECENT_JOBS, locale: str | None = None
) -> list[str]:
    """The newest jobs with what each cost (refunded ones say so and cost nothing)."""
    lines = []
    for row in rows[:limit]:
        amount = int(row["images"]) or int(row["videos"])
        what = t(locale, "{n} image(s)", n=amount) if row["images"] else t(locale, "video")
        cost = t(locale, "refunded") if not counted(row) else money(float(row["usd"]))
        if row.get("refunded_by"):
            cost = t(locale, "refunded by <@{user_id}>", user_id=row["refunded_by"])
        prompt = " ".join(str(row.get("prompt") or "").split())
        if len(prompt) > PROMPT_PREVIEW:
            prompt = prompt[: PROMPT_PREVIEW - 1] + "…"
        prompt = prompt.replace("`", "'")
        lines.append(
            f"#{row['job_id']} · {row['model']} · {what} · {cost} · {t(locale, row['job_state'])}"
            + (f" · `{prompt}`" if prompt else "")
        )
    return lines


def grant_text(grant: Grant, locale: str | None = None) -> str:
    """What a grant gives: ``+2 image(s), +$1.00 spend`` (only what it raises)."""
    parts = []
    if grant.images:
        parts.append(t(locale, "+{n} image(s)", n=grant.images))
    if grant.videos:
        parts.append(t(locale, "+{n} video(s)", n=grant.videos))
    if grant.usd:
        parts.append(t(locale, "+{usd} spend", usd=money(grant.usd)))
    return ", ".join(parts)


def refund_notice(
    locale: str | None, user_id: int, job_id: int, prompt: str, usd: float, reason: str | None
) -> str:
    """What the member reads in the job's channel when a moderator refunds their job
    (``prompt`` already escaped by the caller)."""
    text = t(
        locale,
        "<@{user_id}> a moderator refunded your job #{job_id} ({prompt}): {usd} is given back "
        "and it no longer counts against your limits.",
        user_id=user_id,
        job_id=job_id,
        prompt=prompt,
        usd=money(usd),
    )
    if reason:
        text += " " + t(locale, "Reason: {reason}", reason=reason)
    return text


def budget_lines(usage: Usage, config: GuildConfig, locale: str | None = None) -> list[str]:
    """The server's spend against its budgets (moderators)."""

    def against(spent: float, budget: float | None) -> str:
        if budget is None:
            return t(locale, "{spent} (no budget)", spent=money(spent))
        return t(
            locale,
            "{spent} of {budget} ({left} left)",
            spent=money(spent),
            budget=money(budget),
            left=money(max(0.0, budget - spent)),
        )

    return [
        t(locale, "Today") + ": " + against(usage.guild_spend_today_usd, config.daily_budget_usd),
        t(locale, "This month")
        + ": "
        + against(usage.guild_spend_month_usd, config.monthly_budget_usd),
    ]


def top_lines(ranked: Sequence[tuple[int, Totals]], locale: str | None = None) -> list[str]:
    return [
        f"{i}. <@{user_id}> — "
        + t(
            locale,
            "{images} image(s), {videos} video(s), {usd} in {jobs} job(s)",
            images=s.images,
            videos=s.videos,
            usd=money(s.usd),
            jobs=s.jobs,
        )
        for i, (user_id, s) in enumerate(ranked, start=1)
    ]


# -- export ------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_rows(
    rows: Iterable[Mapping[str, Any]], grants: Iterable[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """One dict per job, keyed by :data:`CSV_COLUMNS` (a refunded job costs 0), then one
    per grant (charge ``grant``, no job)."""
    out = []
    for row in rows:
        created = datetime.fromtimestamp(float(row["created_at"]), UTC)
        out.append(
            {
                "job_id": int(row["job_id"]),
                "created_at_utc": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "day": row["day"],
                "user_id": str(row["user_id"]),
                "model": _cell(str(row["model"])),
                "media": row["media"],
                "images": int(row["images"]),
                "videos": int(row["videos"]),
                "cost_usd": f"{float(row['usd']) if counted(row) else 0.0:.4f}",
                "charge": row["state"],
                "job_state": row["job_state"],
                "prompt": _cell(str(row.get("prompt") or "")),
                "refunded_by": str(row.get("refunded_by") or ""),
                "refund_reason": _cell(str(row.get("refund_reason") or "")),
            }
        )
    for grant in grants:
        updated = datetime.fromtimestamp(float(grant["updated_at"]), UTC)
        out.append(
            {
                "created_at_utc": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "day": grant["day"],
                "user_id": str(grant["user_id"]),
                "images": 0,
                "videos": 0,
                "cost_usd": "0.0000",
                "charge": "grant",
                "granted_images": int(grant["images"]),
                "granted_videos": int(grant["videos"]),
                "granted_usd": f"{float(grant['usd']):.4f}",
            }
        )
    return out


def csv_bytes(rows: Iterable[Mapping[str, Any]], grants: Iterable[Mapping[str, Any]] = ()) -> bytes:
    """The export file: UTF-8 with a BOM (spreadsheets then read non-ASCII prompts
    right), a header row, oldest job first; a day's grants before its jobs."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    in_order = sorted(
        csv_rows(rows, grants), key=lambda r: (r["day"], "job_id" in r, r.get("job_id", 0))
    )
    for row in in_order:
        writer.writerow(row)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
