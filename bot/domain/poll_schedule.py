"""When to look at a task next: a pure function of the model and the time since submit.

Each Max API query costs a request against an undocumented rate limit, and each second
between upstream SUCCESS and our next look is a second the member waits. The first
look comes just before the model's typical time; after that, each gap is a fixed share
of the time since submit (``STEP``), so a result waits at most that share of its own
generation time whenever it arrives, and a job running long costs a query count that
grows with the logarithm of its duration, not linearly. Gaps stay within ``MIN_STEP``
(never hammer the API for fast models) and a cap (Seedance may take hours).

The shares are per media because the issue's query budgets are (≤ 3 per image job,
≤ 6 per video job): images look a little later and less often. With generation times
spread ±20 % around the typical time, a model of this schedule gives about 2.9 looks per
image job and 3.8 per video job (fewer when looks start late), and a delay after SUCCESS
under 10 % of the generation time at the 95th percentile (``bench/README.md``). The
image step was 9 %; 8 % spends some of the query budget left (2.35–2.86 measured) for
about 0.6 point less wait at the 95th percentile. The p95 is set by the fastest jobs,
done before the first look (about one in five with ±20 % spread); looking earlier or
more often would spend more than 3 queries an image. At the 10,000-job bench's peak
what the bot adds (a late start, the round trip, the database thread's queue) lifts
the image p95 to 8.8–9.3 % in three runs (``bench/README.md``).

Jitter on the first look spreads jobs submitted together; later gaps need none (they
keep the spread). ``POLL_SCALE`` multiplies every delay and the maximum age.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bot.domain.catalog import Model

FIRST_LOOK = {"image": 0.89, "video": 0.85}  # of the typical time
STEP = {"image": 0.08, "video": 0.07}  # of the time since submit, between later looks
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
    first_look: float | None = None
    """The first look as a multiple of the typical time (``FIRST_LOOK`` when unset).
    With callbacks on, polling is only the fallback and looks later (1.5)."""

    def first_delay(self, model: Model) -> float:
        share = FIRST_LOOK[model.media] if self.first_look is None else self.first_look
        jitter = 1 + self.rng.uniform(-FIRST_JITTER, FIRST_JITTER)
        return share * model.typical_seconds * jitter * self.scale

    def next_delay(self, model: Model, elapsed: float) -> float:
        """Delay after a look that found the task still running ``elapsed`` seconds
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
