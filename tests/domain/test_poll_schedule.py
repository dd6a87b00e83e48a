"""The poll schedule's promises: a bounded wait after SUCCESS, a bounded query count."""

from __future__ import annotations

import random
import statistics

import pytest

from bot.domain.catalog import Catalog, Model
from bot.domain.poll_schedule import CAP, LONG_CAP, MIN_STEP, STEP, PollSchedule

QUERY_BUDGET = {"image": 3.0, "video": 6.0}  # per job, issue 4


def looks_until(schedule: PollSchedule, model: Model, done_at: float) -> tuple[int, float]:
    """How many looks a task finishing ``done_at`` seconds after submit takes, and when
    the look that sees it happens."""
    at = schedule.first_delay(model)
    looks = 1
    while at < done_at:
        at += schedule.next_delay(model, at)
        looks += 1
    return looks, at


@pytest.mark.parametrize(
    "model_id", ["seedream-4.5", "grok-imagine/text-to-image-lite", "veo3", "seedance-2.0"]
)
def test_a_result_waits_at_most_a_step_of_its_generation_time(
    catalog: Catalog, model_id: str
) -> None:
    model = catalog.get(model_id)
    schedule = PollSchedule(rng=random.Random(1))
    share = STEP[model.media]
    for factor in (0.9, 1.0, 1.1, 1.2, 1.5, 2.0):
        done_at = model.typical_seconds * factor
        _, seen_at = looks_until(schedule, model, done_at)
        wait = seen_at - done_at
        allowed = max(MIN_STEP, share * seen_at)
        assert 0 <= wait <= allowed + 1e-9, (factor, wait, allowed)


@pytest.mark.parametrize("model_id", ["seedream-4.5", "veo3"])
def test_typical_jobs_stay_within_the_query_budget(catalog: Catalog, model_id: str) -> None:
    """Generation times spread ±20 % around the typical time, as in the bench."""
    model = catalog.get(model_id)
    schedule = PollSchedule(rng=random.Random(2))
    rng = random.Random(3)
    counts, shares = [], []
    for _ in range(4000):
        done_at = model.typical_seconds * rng.uniform(0.8, 1.2)
        looks, seen_at = looks_until(schedule, model, done_at)
        counts.append(looks)
        shares.append((seen_at - done_at) / done_at)
    assert statistics.mean(counts) <= QUERY_BUDGET[model.media]
    assert statistics.quantiles(shares, n=20)[-1] <= 0.10  # p95 of the wait ≤ 10 %


def test_gaps_grow_with_time_up_to_the_cap(catalog: Catalog) -> None:
    schedule = PollSchedule()
    image, video = catalog.get("seedream-4.5"), catalog.get("veo3")
    assert schedule.next_delay(image, 1) == MIN_STEP  # never hammer a fast model
    assert schedule.next_delay(video, 300) > schedule.next_delay(video, 150)
    assert schedule.next_delay(image, 10**6) == CAP["image"]
    assert schedule.next_delay(video, 10**6) == CAP["video"]
    slow = catalog.get("seedance-2.0")  # typical time: ten minutes
    assert schedule.next_delay(slow, 10**6) == LONG_CAP


def test_a_long_job_costs_logarithmically_many_looks(catalog: Catalog) -> None:
    """A video running ten times its typical time: dozens of looks, not hundreds."""
    video = catalog.get("veo3")
    looks, _ = looks_until(PollSchedule(), video, video.typical_seconds * 10)
    assert looks < 50


def test_scale_multiplies_every_delay(catalog: Catalog) -> None:
    model = catalog.get("veo3")
    real = PollSchedule(rng=random.Random(4))
    fast = PollSchedule(scale=0.01, rng=random.Random(4))
    assert fast.first_delay(model) == pytest.approx(real.first_delay(model) * 0.01)
    # Elapsed time is on the schedule's own (scaled) clock.
    assert fast.next_delay(model, 2.0) == pytest.approx(real.next_delay(model, 200.0) * 0.01)
    assert fast.max_age(model) == pytest.approx(real.max_age(model) * 0.01)


def test_first_polls_are_spread_but_stay_before_the_typical_time(catalog: Catalog) -> None:
    model = catalog.get("seedream-4.5")
    schedule = PollSchedule(rng=random.Random(5))
    firsts = [schedule.first_delay(model) for _ in range(200)]
    assert len(set(firsts)) > 100
    assert max(firsts) < model.typical_seconds


def test_callbacks_push_the_first_poll_back(catalog: Catalog) -> None:
    model = catalog.get("veo3")
    with_callbacks = PollSchedule(first_poll=1.5, rng=random.Random(6))
    assert with_callbacks.first_delay(model) > model.typical_seconds * 1.4


def test_errors_back_off_exponentially_and_honour_retry_after() -> None:
    schedule = PollSchedule(rng=random.Random(7))
    delays = [schedule.error_delay(n) for n in range(1, 8)]
    assert delays[0] < delays[2] < delays[4]
    assert max(delays) <= 300 * 1.1
    assert schedule.error_delay(1, retry_after=60) >= 60
