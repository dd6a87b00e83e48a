"""Answers first: background work steps aside while members wait for an answer.

Discord gives a command 3 s, and a member feels anything over ~100 ms. The bot's
background work (submitting jobs, polling Max API, editing progress cards, posting
results) shares one event loop with the commands, and each of those units costs about
as much loop time as answering a command. When 50 members press Enter at once, the
first answers' own submits and card edits would otherwise run between the later
commands and push their answers back.

So a command that is being answered holds an :meth:`AnswersFirst.answering` span, and
a background unit calls :meth:`AnswersFirst.wait` before it starts: while any answer is
pending it waits until none is, but never longer than ``max_hold`` (a stream of
commands must not starve the jobs already accepted). Nothing is skipped or reordered
within the background work; it only starts a little later. The wait is a no-op when no
answer is pending, so the quiet path costs one attribute read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

#: Longest a background unit waits for answers to finish (seconds).
MAX_HOLD = 0.5


class AnswersFirst:
    def __init__(self, max_hold: float = MAX_HOLD) -> None:
        self.max_hold = max_hold
        self._pending = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        #: Background units that had to wait, and those that gave up after ``max_hold``.
        self.held = 0
        self.overdue = 0

    @property
    def pending(self) -> int:
        """Answers being prepared right now."""
        return self._pending

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Around the work between a command's arrival and its answer."""
        self._pending += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._pending -= 1
            if self._pending == 0:
                self._quiet.set()

    async def wait(self) -> None:
        """Before a unit of background work: let pending answers go out first."""
        if self._pending == 0:
            return
        self.held += 1
        try:
            async with asyncio.timeout(self.max_hold):
                await self._quiet.wait()
        except TimeoutError:
            self.overdue += 1
