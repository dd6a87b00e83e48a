"""A member's job history, newest first, a page at a time, optionally searched by prompt
(served by the ``jobs_user_id`` index on ``jobs(guild_id, user_id, id)``)."""

from __future__ import annotations

from typing import Any

from bot.domain.job import Job
from bot.domain.job_states import TERMINAL
from bot.store.database import StoreBase, marks

_TERMINAL = [s.value for s in TERMINAL]


def like_pattern(text: str) -> str:
    """A LIKE pattern for ``text`` anywhere, lower-cased, with ``!``, ``%`` and ``_``
    escaped by ``!`` (the query says ``ESCAPE '!'``)."""
    escaped = text.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def _where(
    guild_id: int, user_id: int | None, search: str, active: bool | None
) -> tuple[str, list[Any]]:
    sql = "guild_id = ?"
    params: list[Any] = [guild_id]
    if user_id is not None:
        sql += " AND user_id = ?"
        params.append(user_id)
    if search.strip():
        sql += " AND LOWER(prompt) LIKE ? ESCAPE '!'"
        params.append(like_pattern(search.strip()))
    if active is not None:
        sql += f" AND state {'NOT IN' if active else 'IN'} ({marks(_TERMINAL)})"
        params += _TERMINAL
    return sql, params


class HistoryQueries(StoreBase):
    """Mixed into :class:`bot.store.Store`."""

    async def history_page(
        self,
        guild_id: int,
        user_id: int | None,
        *,
        search: str = "",
        offset: int = 0,
        limit: int = 10,
        active: bool | None = None,
        count: bool = True,
    ) -> tuple[list[Job], int]:
        """Up to ``limit`` jobs from ``offset``, newest first, and how many match in all
        (0 without ``count``: autocomplete needs no total): one member's (``user_id``) or
        the server's, whose prompt holds ``search``."""
        where, params = _where(guild_id, user_id, search, active)
        counted = f"SELECT COUNT(*) FROM jobs WHERE {where}"
        page = f"SELECT * FROM jobs WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?"

        def read() -> tuple[list[Job], int]:
            (total,) = self.db.execute(counted, params).fetchone() if count else (0,)
            rows = self._dicts(page, [*params, limit, max(0, offset)])
            return [Job.from_row(row) for row in rows], int(total)

        return await self.run(read)
