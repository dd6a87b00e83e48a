"""The preference service on a real SQLite store: what ``/prefer set`` accepts and
refuses, and which job ends are told by DM."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.catalog import Catalog
from bot.domain.errors import UserFacingError
from bot.domain.job_states import JobState
from bot.services.preferences import PreferenceService, ran_long
from bot.store import Store
from tests.helpers.store import job_values

GUILD, USER = 1, 3  # job_values' guild and member


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[PreferenceService]:
    store = await Store.open(tmp_path / "a.db")
    yield PreferenceService(store, Catalog.load(), clock=lambda: 500.0)
    await store.close()


async def test_set_checks_each_value_and_default_drops_one(service: PreferenceService) -> None:
    saved = await service.set(GUILD, USER, {"image_model": " seedream-4.5 ", "ratio": "16:9"})
    assert saved == {"image_model": "seedream-4.5", "ratio": "16:9"}
    assert await service.set(GUILD, USER, {"ratio": "default"}) == {"image_model": "seedream-4.5"}
    for bad in (
        {},
        {"ratio": "7:5"},
        {"image_model": "no-such-model"},
        {"image_model": "veo3-fast"},
        {"notify": "email"},
    ):
        with pytest.raises(UserFacingError):
            await service.set(GUILD, USER, bad)
    assert await service.layer(GUILD, USER) == {"image_model": "seedream-4.5"}


async def test_a_paused_model_cannot_be_chosen(service: PreferenceService) -> None:
    await service.store.edit_guild_config(
        GUILD, lambda config: {"paused_models": {"seedream-4.5": "dear"}}
    )
    with pytest.raises(UserFacingError, match="not offered"):
        await service.set(GUILD, USER, {"image_model": "seedream-4.5"})


async def test_only_long_jobs_of_members_who_asked_and_whose_dms_are_open(
    service: PreferenceService,
) -> None:
    job = await service.store.create_job(job_values())
    long = dataclasses.replace(job, state=JobState.DELIVERED, finished_at=job.created_at + 121)
    short = dataclasses.replace(long, finished_at=job.created_at + 30)
    assert ran_long(long) and not ran_long(short)
    assert not await service.wants_dm(long)  # no notify:dm
    await service.set(GUILD, USER, {"notify": "dm"})
    assert await service.wants_dm(long) and not await service.wants_dm(short)
    await service.dms_closed(USER)
    assert not await service.wants_dm(long)
    await service.set(GUILD, USER, {"notify": "dm"})  # clears the closed mark
    assert await service.wants_dm(long)
    assert await service.claim_dm(long) and not await service.claim_dm(long)
