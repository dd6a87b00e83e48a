"""What ``/queue`` says: a moderator's page of the server's active jobs, or a member's
places in that queue, as plain text and the buttons to draw.

No Discord import: built from :class:`Job` values and a clock reading. The cog
(``cogs/queue.py``) puts this into an embed and buttons. Paging buttons are
``atelier:queue:<prev|show|next>:<page>``: the page to open, so a click after a restart
needs nothing but the id (the word keeps the three ids of one page distinct).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.job import Job
from bot.text.i18n import t
from bot.text.job_pages import CANCELLABLE, state_label
from bot.text.progress_card import cost_text

#: A paging button's custom id; ``page`` counts from 1.
QUEUE_BUTTON = re.compile(r"atelier:queue:(?P<direction>prev|show|next):(?P<page>[0-9]{1,6})")
DIRECTIONS = ("prev", "show", "next")


def queue_button_id(direction: str, page: int) -> str:
    """The custom id of the button that opens ``page`` (``direction``: which button)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown queue button {direction!r}")
    return f"atelier:queue:{direction}:{max(1, page)}"


@dataclass(frozen=True, slots=True)
class QueueText:
    """One answer to ``/queue``: the embed's text, the jobs that get a Cancel button,
    and the paging buttons (``pages`` 1: no Previous/Next)."""

    title: str
    description: str
    footer: str
    cancel_ids: tuple[int, ...]
    page: int = 1
    pages: int = 1


def ordinal(number: int, locale: str | None) -> str:
    """``1st``, ``2nd``, ``11th``, ``23rd`` (``第 5 位`` in Chinese)."""
    if 10 <= number % 100 <= 20:
        template = "{n}th"
    else:
        template = {1: "{n}st", 2: "{n}nd", 3: "{n}rd"}.get(number % 10, "{n}th")
    return t(locale, template, n=number)


def when(job: Job) -> str:
    """How old the job is, as Discord shows it in the reader's language and keeps
    current (``3 minutes ago``)."""
    return f"<t:{int(job.created_at)}:R>"


def queue_line(job: Job, place: int, locale: str | None) -> str:
    """One job of a moderator's page: place, id, who, where, model, state, age, cost."""
    return (
        f"**{place}.** #{job.id} · <@{job.user_id}> · <#{job.channel_id}> · `{job.model}` · "
        f"{state_label(job.state, locale)} · {when(job)} · {cost_text(job, locale)}"
    )


def empty_queue(locale: str | None) -> str:
    return t(locale, "The queue is empty: no job is running in this server.")


def moderator_page(
    jobs: Sequence[Job], *, total: int, page: int, pages: int, first_place: int, locale: str | None
) -> QueueText:
    """A page of the server's active jobs, oldest first, each with a Cancel button
    while it can still be stopped."""
    title = t(locale, "Queue: {count} active job(s)", count=total)
    footer = t(locale, "Page {page} of {pages} · oldest first", page=page, pages=pages)
    if not jobs:
        return QueueText(title, empty_queue(locale), footer, (), page, pages)
    lines = [queue_line(job, first_place + i, locale) for i, job in enumerate(jobs)]
    cancel = tuple(job.id for job in jobs if job.state in CANCELLABLE)
    return QueueText(title, "\n".join(lines), footer, cancel, page, pages)


def place_line(job: Job, place: int, total: int, locale: str | None) -> str:
    """``Your job #12 is 5th of 17 in this server's queue`` and how it stands."""
    head = t(
        locale,
        "Your job #{job_id} is {place} of {total} in this server's queue.",
        job_id=job.id,
        place=ordinal(place, locale),
        total=total,
    )
    return f"{head}\n-# {state_label(job.state, locale)} · `{job.model}` · {when(job)}"


def member_places(
    places: Sequence[tuple[Job, int]], *, total: int, locale: str | None
) -> QueueText:
    """A member's own jobs and their places; nobody else's job is named."""
    title = t(locale, "Your place in the queue")
    footer = t(locale, "Only moderators see the whole queue.")
    if total == 0:
        return QueueText(title, empty_queue(locale), footer, ())
    if not places:
        text = t(
            locale,
            "You have no job in this server's queue. It holds {count} job(s) now.",
            count=total,
        )
        return QueueText(title, text, footer, ())
    lines = [place_line(job, place, total, locale) for job, place in places]
    cancel = tuple(job.id for job, _ in places if job.state in CANCELLABLE)
    return QueueText(title, "\n".join(lines), footer, cancel)
