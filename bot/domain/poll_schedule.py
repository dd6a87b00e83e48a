"""When to poll a task next: a pure function of the model and the time since submit.

The first poll comes just before the model's typical time; after that each gap is a share
of the time since submit, so a result waits at most that share of its generation time and
a long job costs queries in the logarithm of its duration (``bench/README.md`` has the
figures behind the shares). ``POLL_SCALE`` multiplies every delay."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bot.domain.catalog import Model

FIRST_POLL = {"image": 0.89, "video": 0.85}  # of the typical time
STEP = {"image": 0.08, "video": 0.07}  # of the time since submit, between later polls
MIN_STEP = 1.5  # seconds
CAP = {"image": 30.0, "video": 120.0}
LONG_CAP = 600.0  # for models whose typical time is ten minutes or more
FIRST_JITTER = 0.03
JITTER = 0.1  # on error back-off
ERROR_BACKOFF = (5.0, 300.0)  # first and largest delay after a failed query


@dataclass
class PollSchedule:
    scale: float = 1.0
    rng: random.Random = field(default_factory=random.Random)
    first_poll: float | None = None
    """The first poll as a multiple of the typical time (``FIRST_POLL`` when unset).
    With callbacks on, polling is only the fallback and starts later (1.5)."""

    def first_delay(self, model: Model) -> float:
        share = FIRST_POLL[model.media] if self.first_poll is None else self.first_poll
        jitter = 1 + self.rng.uniform(-FIRST_JITTER, FIRST_JITTER)
        return share * model.typical_seconds * jitter * self.scale

    def next_delay(self, model: Model, elapsed: float) -> float:
        """Delay after a poll that found the task still running ``elapsed`` seconds
        (on this schedule's clock, i.e. scaled) after it was submitted."""
        since_submit = max(0.0, elapsed) / self.scale
        cap = LONG_CAP if model.typical_seconds >= 600 else CAP[model.media]
        step = min(cap, max(MIN_STEP, STEP[model.media] * since_submit))
        return step * self.scale

    def error_delay(self, errors_in_a_row: int, retry_after: float | None = None) -> float:
        """Back off after a failed query; the job itself keeps going."""
        first, largest = ERROR_BACKOFF
        delay = min(largest, first * 2 ** max(0, errors_in_a_row - 1))
        delay = self._jitter(delay) * self.scale
        return max(delay, retry_after or 0.0)

    def max_age(self, model: Model) -> float:
        """Seconds after submit when a job still unfinished upstream is given up."""
        return model.max_seconds * self.scale

    def _jitter(self, seconds: float) -> float:
        return seconds * (1 + self.rng.uniform(-JITTER, JITTER))
