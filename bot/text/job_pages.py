"""What ``/jobs``, ``/cancel`` and ``/show`` say about jobs, as plain text.

No Discord import: lines, autocomplete labels and refusals are built from :class:`Job`
values and a clock reading, so every rule here is tested with plain values. The cog
(``cogs/jobs.py``) only puts this text into embeds, buttons and choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.job import Job
from bot.domain.job_states import CANCEL_CHARGED, JobState
from bot.domain.units import human_duration as duration
from bot.text.i18n import t
from bot.text.markdown import escape_markdown

S = JobState

#: States in which a job can still be stopped: a Cancel button and a ``/cancel`` choice.
CANCELLABLE = frozenset({S.ACCEPTED, S.SUBMITTING, S.QUEUED, S.RUNNING})
#: Discord allows 5 rows of 5 buttons on one message.
MAX_BUTTONS = 25
#: Embed descriptions hold 4096 characters; a margin below that.
DESCRIPTION_LIMIT = 3900
CHOICE_LIMIT = 100  # an autocomplete choice's name
PROMPT_CHARS = 48

STATE_LABELS: dict[JobState, str] = {
    S.ACCEPTED: "waiting to start",
    S.SUBMITTING: "starting",
    S.QUEUED: "queued",
    S.RUNNING: "running",
    S.SUCCEEDED: "finishing",
    S.DELIVERING: "posting",
    S.DELIVERED: "delivered",
    S.REJECTED: "refused",
    S.FAILED: "failed",
    S.CANCELLED: "cancelled",
    S.UNDELIVERABLE: "not posted",
    S.EXPIRED: "expired",
    S.LOST: "lost",
}


def state_label(state: JobState, locale: str | None) -> str:
    return t(locale, STATE_LABELS[state])


def short_prompt(prompt: str, limit: int = PROMPT_CHARS) -> str:
    """One line of the prompt, cut to ``limit`` characters (not escaped)."""
    text = " ".join(prompt.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def channel_url(guild_id: int | None, channel_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}"


def jump_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"{channel_url(guild_id, channel_id)}/{message_id}"


def job_line(job: Job, *, now: float, locale: str | None) -> str:
    """One job in ``/jobs``: id, state, model, how long (or how long ago), prompt."""
    state = state_label(job.state, locale)
    prompt = escape_markdown(short_prompt(job.prompt))
    if job.state.is_active:
        when = duration(now - job.created_at)
        return f"**#{job.id}** · {state} · `{job.model}` · {when} · {prompt}"
    when = t(locale, "{duration} ago", duration=duration(now - (job.finished_at or job.updated_at)))
    line = f"#{job.id} · {state} · `{job.model}` · {when} · {prompt}"
    if job.state == S.DELIVERED and job.result_message_ids:
        url = jump_url(job.guild_id, job.channel_id, job.result_message_ids[0])
        line += f" · [{t(locale, 'result')}]({url})"
    return line


def cancel_label(job_id: int, locale: str | None) -> str:
    return t(locale, "Cancel #{job_id}", job_id=job_id)


def choice_label(job: Job, *, locale: str | None, owner_name: str | None = None) -> str:
    """An autocomplete choice: ``#12 · running · model · prompt`` (≤ 100 characters).
    A moderator choosing among other members' jobs also sees whose it is."""
    who = f" · {owner_name}" if owner_name else ""
    head = f"#{job.id} · {state_label(job.state, locale)} · {job.model}{who} · "
    room = CHOICE_LIMIT - len(head)
    return (head + short_prompt(job.prompt, max(room, 2)))[:CHOICE_LIMIT]


def show_label(job: Job, *, owner_name: str | None = None) -> str:
    """A ``/show`` choice: ``#12 · prompt…`` (whose, for a moderator; ≤ 100 characters)."""
    who = f" · {owner_name}" if owner_name else ""
    head = f"#{job.id} · "
    room = CHOICE_LIMIT - len(head) - len(who)
    return (head + short_prompt(job.prompt, max(room, 2)) + who)[:CHOICE_LIMIT]


def matches(job: Job, typed: str) -> bool:
    """Whether a job fits what the member typed in the autocomplete box so far: the
    start of its id (``#12`` or ``12``), or words of its prompt or model."""
    text = typed.strip().lower().lstrip("#")
    if not text:
        return True
    if text.isdigit():
        return str(job.id).startswith(text)
    haystack = f"{job.prompt} {job.model}".lower()
    return all(word in haystack for word in text.split())


def can_manage(job: Job, *, user_id: int, guild_id: int | None, moderator: bool) -> bool:
    """The owner, or a moderator of the job's own guild (never across guilds)."""
    if job.guild_id != guild_id:
        return False
    return job.user_id == user_id or moderator


NOT_YOURS: dict[str, str] = {
    "cancel": "Job #{job_id} is not yours: only its owner or a moderator can cancel it.",
    "show": "Job #{job_id} is not yours: only its owner or a moderator can show it again.",
}


def not_yours(job_id: int, action: str, locale: str | None) -> str:
    return t(locale, NOT_YOURS[action], job_id=job_id)


def cancel_text(
    message: str, job: Job, *, cancelled: bool, caller_id: int, locale: str | None
) -> str:
    """The ``/cancel`` outcome for the caller. The service's answer (a template with the
    job's id and state) speaks to the owner ("you were not charged"); a moderator
    cancelling someone else's job learns whose it was instead, and whether it was charged."""
    if cancelled and job.user_id != caller_id:
        if job.failure_reason == CANCEL_CHARGED:
            return t(
                locale,
                "Cancelled job #{job_id} of <@{user_id}>. Max API already had it, "
                "so it was charged.",
                job_id=job.id,
                user_id=job.user_id,
            )
        return t(
            locale,
            "Cancelled job #{job_id} of <@{user_id}>. They were not charged.",
            job_id=job.id,
            user_id=job.user_id,
        )
    return t(locale, message, job_id=job.id, state=t(locale, job.state.value))


def show_refusal(job: Job, *, now: float, locale: str | None) -> str | None:
    """Why a job's result cannot be posted again now, or ``None`` when it can."""
    if job.state in (S.SUCCEEDED, S.DELIVERING):
        return t(locale, "Job #{job_id} is being posted right now.", job_id=job.id)
    if job.state.is_active:
        return t(
            locale,
            "Job #{job_id} has no result yet ({state}).",
            job_id=job.id,
            state=state_label(job.state, locale),
        )
    if not job.result_urls or job.result_expires_at is None:
        return t(
            locale,
            "Job #{job_id} ended without a result ({state}).",
            job_id=job.id,
            state=state_label(job.state, locale),
        )
    if now >= job.result_expires_at and not job.result_message_ids:  # no posted copy
        return expired_text(job.id, job.result_expires_at, locale)
    return None


def expired_text(job_id: int, expires_at: float, locale: str | None) -> str:
    """Max API keeps results for 7 days; Discord renders ``<t:…:f>`` in the reader's
    own time zone and language."""
    return t(
        locale,
        "The result links of job #{job_id} expired on <t:{at}:f>, so it can no longer be shown.",
        job_id=job_id,
        at=int(expires_at),
    )


def copy_gone_text(job_id: int, locale: str | None) -> str:
    """Max API's links expired and the bot's own post of the result is gone too."""
    return t(
        locale,
        "The result of job #{job_id} expired and its message was deleted, so it can't be "
        "used any more. Use Reroll.",
        job_id=job_id,
    )


def shown_by(caller_id: int, locale: str | None) -> str:
    """The first line of a re-posted result, so the channel sees who asked for it."""
    return t(locale, "-# shown again by <@{user_id}>", user_id=caller_id)


#: ``/jobs`` history: jobs on one page, and the longest search a paging button carries.
HISTORY_PER_PAGE = 10
SEARCH_MAX = 50


@dataclass(frozen=True, slots=True)
class HistoryText:
    """One ``/jobs`` page: title, lines, the "Page 2 of 7" footer, Cancel buttons."""

    title: str
    description: str
    footer: str
    cancel_ids: tuple[int, ...]


def page_count(total: int, per_page: int = HISTORY_PER_PAGE) -> int:
    """Pages needed for ``total`` jobs (at least one, even when empty)."""
    return max(1, -(-total // per_page))


def history_text(
    jobs: Sequence[Job],
    *,
    total: int,
    page: int,
    search: str,
    now: float,
    locale: str | None,
) -> HistoryText:
    """A page of the member's jobs, newest first, each with its state and prompt."""
    search = " ".join(search.split())
    if search:
        title = t(locale, "Your jobs matching “{search}”", search=escape_markdown(search))
    else:
        title = t(locale, "Your jobs")
    if not jobs and search:
        text = t(locale, "None of your jobs here has “{search}” in its prompt.", search=search)
    elif not jobs:
        text = t(
            locale,
            "You have no jobs yet. Start one with /imagine (images) or /video (videos).",
        )
    else:
        text = "\n".join(job_line(job, now=now, locale=locale) for job in jobs)
    footer = t(
        locale,
        "Page {page} of {pages} · {count} jobs",
        page=page,
        pages=page_count(total),
        count=total,
    )
    cancel_ids = tuple(job.id for job in jobs if job.state in CANCELLABLE)
    return HistoryText(title, text[:DESCRIPTION_LIMIT], footer, cancel_ids)
