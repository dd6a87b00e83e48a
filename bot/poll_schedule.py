"""When to look at a task next: a pure function of the model and the looks so far.

Each Max API query costs a request against an undocumented rate limit, and each second
between upstream SUCCESS and our next look is a second the member waits. So the first
look comes near the model's typical time, the next few close behind it (a tenth of the
typical time apart, so a result is seen within ~10 % of its generation time), then the
gaps grow geometrically up to a cap (Seedance may take hours). Jitter spreads jobs
submitted together. ``POLL_SCALE`` multiplies every delay and the maximum age.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bot.catalog import Model

FIRST_LOOK = 0.9  # of the typical time
STEP = 0.08  # of the typical time, between the first looks
CLOSE_LOOKS = 5  # looks at STEP spacing (to ~1.3x typical) before the gaps grow
GROWTH = 1.5
MIN_STEP = 2.0  # seconds: never hammer the API for very fast models
CAP = {"image": 30.0, "video": 120.0}
LONG_CAP = 600.0  # for models whose typical time is over ten minutes
JITTER = 0.1
ERROR_BACKOFF = (5.0, 300.0)  # first and largest delay after a failed query


@dataclass
class PollSchedule:
    scale: float = 1.0
    rng: random.Random = field(default_factory=random.Random)
    first_look: float | None = None
    """The first look as a multiple of the typical time (``FIRST_LOOK`` when unset).
    With callbacks on, polling is only the fallback and looks later (1.5)."""

    def first_delay(self, model: Model) -> float:
        share = FIRST_LOOK if self.first_look is None else self.first_look
        return self._jitter(share * model.typical_seconds) * self.scale

    def next_delay(self, model: Model, looks_done: int) -> float:
        """Delay after the ``looks_done``-th look found the task still running."""
        step = max(MIN_STEP, STEP * model.typical_seconds)
        grown = step * GROWTH ** max(0, looks_done - CLOSE_LOOKS)
        cap = LONG_CAP if model.typical_seconds > 600 else CAP[model.media]
        return self._jitter(min(grown, max(cap, step))) * self.scale

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
