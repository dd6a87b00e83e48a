"""Cost confirmation end to end: real discord.py against the local Discord, the Max API
simulator and the whole runtime on a clock the test can move. A $3.20 Veo job asks its
member privately first; nothing reaches Max API before Confirm; Cancel or two minutes
without an answer release the reservation; the hold outlives a restart."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.discord_io.client import AtelierBot
from bot.domain.confirmation import CONFIRM_SECONDS
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.domain.quota import period_keys
from bot.services import confirmation
from bot.settings import Settings
from bot.store import Store
from simulator import Simulator
from tests.discord_world import InjectedInteraction, Message, World
from tests.e2e.support import (
    App,
    Clock,
    answer,
    card,
    job_id_of,
    job_when,
    refusal,
    settled,
    started,
)
from tests.helpers.jobs import lift_limits

S = JobState
QUESTION = (
    "Job #{id} will cost about **$3.20** (Veo 3.1 Quality, 8 s at $0.40/s = $3.20, "
    "estimated). Confirm within 2 minutes to start it; nothing goes to Max API before you do."
)


@asynccontextmanager
async def up(
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    settings: Settings,
    clock: Clock,
    guild_id: int,
) -> AsyncIterator[App]:
    """The whole bot on a Runtime (as ``python -m bot`` starts it), on ``clock``; limits
    lifted, the built-in threshold ($0.50) back on."""
    async with started(run_bot, make_bot, settings, clock=clock) as app:
        await lift_limits(app.store, guild_id)
        await app.store.update_guild_config(guild_id, confirm_above_usd=0.5)
        yield app


@pytest.fixture(autouse=True)
def quick_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Held jobs are looked at every 0.1 s here (5 s in production)."""
    monkeypatch.setattr(confirmation, "SWEEP_EVERY", 0.1)


@pytest.fixture
async def app(
    world: World,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
    clock: Clock,
) -> AsyncIterator[App]:
    async with up(run_bot, make_bot, runtime_settings, clock, world.guild.id) as running:
        yield running


async def veo(world: World, prompt: str = "a storm over the sea") -> InjectedInteraction:
    return await world.slash("video", {"prompt": prompt, "model": "veo3"})


async def question(ix: InjectedInteraction) -> tuple[Message, int]:
    """The private cost question that answered ``ix``, and its job's id."""
    callback = await ix.wait_response()
    assert callback.type == 4 and callback.ephemeral, callback.data
    assert ix.original is not None
    message = ix.original
    (confirm,) = [c for c in message.custom_ids() if c.startswith("atelier:confirm:")]
    job_id = int(confirm.rsplit(":", 1)[1])
    assert message.custom_ids() == [f"atelier:confirm:{job_id}", f"atelier:cancel:{job_id}"]
    return message, job_id


async def spend_today(store: Store, world: World) -> float:
    day, month = period_keys(store.clock())
    return (await store.usage(world.guild.id, world.member.id, day, month)).spend_today_usd


def public(world: World) -> list[Message]:
    return world.messages(world.channel, include_ephemeral=False)


async def test_a_veo_job_asks_privately_and_confirm_starts_it_once(
    world: World, sim: Simulator, app: App
) -> None:
    message, job_id = await question(await veo(world))
    assert message.content == QUESTION.format(id=job_id)
    job = await app.store.get(job_id)
    assert job is not None and job.state == S.ACCEPTED and job.confirm_by is not None
    assert await spend_today(app.store, world) == pytest.approx(3.2)  # reserved
    assert sim.submissions == [] and public(world) == []
    stale = copy.deepcopy(message)  # what a client shows until the edit arrives

    stranger = await world.click(message, f"atelier:confirm:{job_id}", user=world.add_member("x"))
    assert f"Only the member who started job #{job_id} can confirm it." in await refusal(stranger)
    assert (await app.store.get(job_id)).confirm_by is not None  # type: ignore[union-attr]

    started = await card(await world.click(message, f"atelier:confirm:{job_id}"))
    assert job_id_of(started) == job_id and started in public(world)
    submitted = await job_when(app.store, job_id, lambda j: j.task_id is not None)
    assert submitted.progress_message_id == started.id
    assert len(sim.submissions) == 1
    await world.wait_for(lambda: message.content == f"Confirmed: job #{job_id} has started.")
    assert message.custom_ids() == []

    again = await answer(await world.click(stale, f"atelier:confirm:{job_id}"))
    assert again.ephemeral and again.content == f"Job #{job_id} is already confirmed."
    done = await settled(app.store, job_id)
    assert done.state == S.DELIVERED
    assert len(sim.submissions) == 1
    assert await spend_today(app.store, world) == pytest.approx(3.2)  # charged once


async def test_cancel_releases_the_reservation_and_says_so_privately(
    world: World, sim: Simulator, app: App
) -> None:
    message, job_id = await question(await veo(world))
    stale = copy.deepcopy(message)
    click = await world.click(message, f"atelier:cancel:{job_id}")
    told = await click.wait_followup()
    assert told.ephemeral and told.content.startswith("Cancelled.")
    assert (await settled(app.store, job_id)).state == S.CANCELLED
    assert await spend_today(app.store, world) == pytest.approx(0.0)
    await world.wait_for(lambda: message.content == "Cancelled: nothing was charged.")
    assert message.custom_ids() == []

    late = await answer(await world.click(stale, f"atelier:confirm:{job_id}"))
    assert late.content == f"Job #{job_id} was cancelled: nothing was charged."
    await world.settle()
    assert sim.submissions == [] and public(world) == []  # no public notice either


async def test_no_answer_within_two_minutes_cancels_refunds_and_edits_the_question(
    world: World, sim: Simulator, app: App, clock: Clock
) -> None:
    message, job_id = await question(await veo(world))
    clock.offset += CONFIRM_SECONDS + 1
    job = await settled(app.store, job_id)
    assert job.state == S.CANCELLED
    await world.wait_for(
        lambda: message.content == "Not confirmed within 2 minutes: nothing was charged."
    )
    assert message.custom_ids() == []
    assert await spend_today(app.store, world) == pytest.approx(0.0)
    await world.settle()
    assert sim.submissions == [] and public(world) == []


async def test_a_cheap_job_runs_without_asking(world: World, sim: Simulator, app: App) -> None:
    started = await card(await world.slash("imagine", {"prompt": "a small fox"}))
    job = await job_when(app.store, job_id_of(started), lambda j: j.task_id is not None)
    assert job.confirm_by is None and job.price_usd <= 0.5


async def test_the_threshold_a_moderator_sets_decides(
    world: World, sim: Simulator, app: App
) -> None:
    member = await answer(
        await world.slash("settings budget", {"confirm_above_usd": 5}, user=world.member)
    )
    assert member.ephemeral and "Manage Server" in member.embed_text()
    assert (await app.store.guild_config(world.guild.id)).confirm_above_usd == 0.5

    changed = await answer(
        await world.slash("settings budget", {"confirm_above_usd": 5}, user=world.moderator)
    )
    assert "jobs above $5.00" in changed.embed_text()
    first = await card(await veo(world, "a storm under $5"))  # $3.20: no question
    assert (await app.store.get(job_id_of(first))).confirm_by is None  # type: ignore[union-attr]

    await answer(
        await world.slash("settings budget", {"confirm_above_usd": 0}, user=world.moderator)
    )
    shown = await answer(await world.slash("settings show", {}, user=world.moderator))
    assert "off (never asks)" in shown.embed_text()
    await card(await veo(world, "a storm, never asked"))
    entries = await app.store.audit_entries(world.guild.id)
    assert sum(e["action"] == "settings.budget" for e in entries) == 2


async def test_a_held_job_outlives_a_restart_then_is_confirmed_or_expires(
    world: World,
    sim: Simulator,
    run_bot: Callable[..., Any],
    make_bot: Callable[..., AtelierBot],
    runtime_settings: Settings,
    clock: Clock,
) -> None:
    async with up(run_bot, make_bot, runtime_settings, clock, world.guild.id):
        confirmed_q, confirmed_id = await question(await veo(world, "kept storm"))
        expiring_q, expiring_id = await question(await veo(world, "forgotten storm"))
    async with up(run_bot, make_bot, runtime_settings, clock, world.guild.id) as second:
        await world.settle()
        for job_id in (confirmed_id, expiring_id):
            held: Job | None = await second.store.get(job_id)
            assert held is not None and held.state == S.ACCEPTED and held.confirm_by
        assert sim.submissions == []

        started = await card(await world.click(confirmed_q, f"atelier:confirm:{confirmed_id}"))
        assert job_id_of(started) == confirmed_id
        await job_when(second.store, confirmed_id, lambda j: j.task_id is not None)

        clock.offset += CONFIRM_SECONDS + 1
        assert (await settled(second.store, expiring_id)).state == S.CANCELLED
        await world.wait_for(
            lambda: expiring_q.content == "Not confirmed within 2 minutes: nothing was charged."
        )
        assert len(sim.submissions) == 1
