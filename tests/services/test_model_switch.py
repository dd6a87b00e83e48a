"""Pausing and resuming a model, stored on both databases, and what admission makes of a
paused model: refused before anything is reserved, its image variant too."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.domain.catalog import Catalog, GenerationRequest
from bot.domain.errors import NotAllowed, UserFacingError
from bot.services.audit import AuditLog
from bot.services.guild_settings import GuildSettingsService
from bot.services.model_switch import clean_reason, pause, paused_model, resume, skip_paused
from tests.helpers.jobs import IMAGE, REQUESTER, Harness, harness

GUILD = REQUESTER.guild_id or 0
GPT = "gpt-image-2/text-to-image"
GPT_EDIT = "gpt-image-2/image-to-image"
PICTURE = "https://cdn.discordapp.com/attachments/1/2/fox.png"


@pytest.fixture
async def h(store_target: str) -> AsyncIterator[Harness]:
    async with harness(store_target) as running:
        yield running


def service(h: Harness) -> GuildSettingsService:
    return GuildSettingsService(h.store, AuditLog(h.store), h.catalog)


async def test_pause_and_resume_are_stored_audited_and_refuse_jobs(h: Harness) -> None:
    settings = service(h)
    change = await pause(settings, GUILD, 7, f" {IMAGE} ", "  costs   too much. ", None)
    assert change.config.paused_models == {IMAGE: "costs too much"}
    assert change.summary == f"paused `{IMAGE}`: costs too much"
    assert (await h.store.guild_config(GUILD)).paused_models == {IMAGE: "costs too much"}

    with pytest.raises(
        NotAllowed, match=re.escape(f"paused `{IMAGE}` in this server: costs too much. ")
    ):
        await h.jobs.accept(GenerationRequest(IMAGE, "a fox"), REQUESTER)
    assert await h.store.count_by_state() == {}
    assert h.sim.submissions == []

    with pytest.raises(UserFacingError, match="already paused"):
        await pause(settings, GUILD, 7, IMAGE, "costs too much", None)
    changed = await pause(settings, GUILD, 7, IMAGE, "broken", "zh-CN")
    assert changed.config.paused_models == {IMAGE: "broken"}
    assert changed.summary == f"已暂停 `{IMAGE}`：broken"

    resumed = await resume(settings, GUILD, 7, IMAGE, None)
    assert resumed.config.paused_models == {}
    await h.jobs.accept(GenerationRequest(IMAGE, "a fox"), REQUESTER)
    with pytest.raises(UserFacingError, match="not paused"):
        await resume(settings, GUILD, 7, IMAGE, None)
    with pytest.raises(UserFacingError, match="Unknown model"):
        await pause(settings, GUILD, 7, "dall-e-9", None, None)

    entries = [e for e in await h.store.audit_entries(GUILD) if e["action"] == "settings.models"]
    assert [e["target"] for e in entries] == [IMAGE, IMAGE, IMAGE]
    assert entries[0]["detail"]["resumed"] == IMAGE
    assert entries[1]["detail"]["summary"] == f"paused `{IMAGE}`: broken"
    assert all(e["actor_id"] == 7 for e in entries)


async def test_pausing_a_model_pauses_its_image_variant(h: Harness) -> None:
    await pause(service(h), GUILD, 7, GPT, None, None)
    for request in (
        GenerationRequest(GPT, "a fox"),
        GenerationRequest(GPT, "a fox", image_urls=[PICTURE]),
        GenerationRequest(GPT_EDIT, "a fox", image_urls=[PICTURE]),
    ):
        with pytest.raises(NotAllowed) as refused:
            await h.jobs.accept(request, REQUESTER)
        assert refused.value.fields == {"model": f"`{GPT}`"}
    assert await h.store.count_by_state() == {}


async def test_pausing_only_the_variant_still_takes_text_jobs(h: Harness) -> None:
    await pause(service(h), GUILD, 7, GPT_EDIT, "edits look wrong", None)
    await h.jobs.accept(GenerationRequest(GPT, "a fox"), REQUESTER)
    with pytest.raises(NotAllowed) as refused:
        await h.jobs.accept(GenerationRequest(GPT, "a fox", image_urls=[PICTURE]), REQUESTER)
    assert refused.value.fields["reason"] == "edits look wrong"


def test_a_paused_default_falls_back_to_the_next_model() -> None:
    catalog = Catalog.load()
    assert skip_paused(["a", None], {}, catalog, ("image",)) == ["a", None]
    kept = skip_paused([IMAGE, "nano-banana-2"], {IMAGE: ""}, catalog, ("image",))
    assert kept[0] == "nano-banana-2" and IMAGE not in kept and None not in kept
    assert GPT_EDIT not in skip_paused([], {GPT: ""}, catalog, ("image",))
    assert paused_model({GPT: "x"}, catalog, "veo3", GPT_EDIT) == (GPT, "x")
    assert paused_model({GPT: "x"}, catalog, "veo3") is None


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (None, ""),
        ("  ", ""),
        ("too  slow.", "too slow"),
        ("太贵了。", "太贵了"),
        ("x" * 300, "x" * 200),
    ],
)
def test_a_reason_is_one_line_without_a_final_stop(given: str | None, kept: str) -> None:
    assert clean_reason(given) == kept
