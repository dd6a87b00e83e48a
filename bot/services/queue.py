"""``/queue``: a page of a server's active jobs for moderators, a member's own places.

Each answer is one store call, so it fits in Discord's 3 seconds however long the queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.job import Job
from bot.store import Store
from bot.text.job_pages import page_count

#: Jobs on one moderator's page.
PER_PAGE = 10
#: A member's own jobs listed at most (``jobs_at_once`` keeps this small anyway).
MEMBER_LIMIT = 10


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the server's active jobs, oldest first; ``page`` counts from 1."""

    jobs: list[Job]
    total: int
    page: int
    pages: int

    @property
    def first_place(self) -> int:
        """The queue place of the page's first job."""
        return (self.page - 1) * PER_PAGE + 1


@dataclass(frozen=True, slots=True)
class QueuePlaces:
    """A member's active jobs with their places, and how long the queue is."""

    places: list[tuple[Job, int]]
    total: int


async def read_page(store: Store, guild_id: int, page: int) -> QueuePage:
    """Page ``page`` of the queue; past the end (jobs finished since the button was
    drawn), the last page instead."""
    page = max(1, page)
    jobs, total = await store.queue_slice(guild_id, (page - 1) * PER_PAGE, PER_PAGE)
    pages = page_count(total, PER_PAGE)
    if not jobs and page > pages:
        page = pages
        jobs, total = await store.queue_slice(guild_id, (page - 1) * PER_PAGE, PER_PAGE)
        pages = page_count(total, PER_PAGE)
    return QueuePage(jobs, total, min(page, pages), pages)


async def read_places(store: Store, guild_id: int, user_id: int) -> QueuePlaces:
    places, total = await store.queue_places(guild_id, user_id, MEMBER_LIMIT)
    return QueuePlaces(places, total)
