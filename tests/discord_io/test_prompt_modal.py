"""The prompt modals as Discord receives them: Remix with the job's prompt and main
options prefilled, Animate's optional motion prompt; within Discord's modal limits."""

from __future__ import annotations

from typing import Any

from bot.discord_io.prompt_modal import (
    animate_modal,
    prompt_limit,
    remix_keys,
    remix_modal,
    remix_options,
)
from bot.domain.catalog import Catalog
from bot.domain.job import Job
from bot.domain.job_states import JobState
from tests.discord_world.modals import check_modal, text_inputs

CATALOG = Catalog.load()


def job(**values: Any) -> Job:
    base: dict[str, Any] = {
        "id": 12,
        "guild_id": 1,
        "channel_id": 2,
        "user_id": 3,
        "media": "image",
        "model": "nano-banana-2",
        "prompt": "a fox",
        "input": {},
        "price_usd": 0.1,
        "state": JobState.DELIVERED,
        "created_at": 0.0,
        "updated_at": 0.0,
    }
    return Job(**(base | values))


async def nothing(*_: Any) -> None:
    return None


def inputs(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["custom_id"]: f | {"label": label} for label, f in text_inputs(payload["components"])}


async def test_remix_prefills_the_prompt_and_the_models_main_options() -> None:
    model = CATALOG.get("nano-banana-2")
    modal = remix_modal(
        job(options={"ratio": "16:9"}), model, locale="en-US", limit=4000, submit=nothing
    )
    payload = modal.to_dict()
    check_modal(payload)  # Discord would take it
    assert payload["title"] == "Remix job #12"
    found = inputs(payload)
    assert list(found) == ["prompt", "ratio", "resolution"]
    prompt = found["prompt"]
    assert (prompt["value"], prompt["required"], prompt["style"]) == ("a fox", True, 2)
    assert prompt["max_length"] == 4000
    assert found["ratio"]["value"] == "16:9" and not found["ratio"]["required"]
    assert "value" not in found["resolution"]
    assert found["resolution"]["placeholder"] == "1k, 2k, 4k (empty: the default)"


async def test_a_video_offers_its_duration_and_every_modal_fits_discord() -> None:
    assert remix_keys(CATALOG.get("veo3_fast")) == ["ratio", "resolution", "duration"]
    for model in CATALOG.enabled():
        long_prompt = "x" * CATALOG.prompt_max_chars
        modal = remix_modal(
            job(id=10**18, prompt=long_prompt, model=model.id, media=model.media),
            model,
            locale="zh-CN",
            limit=CATALOG.prompt_max_chars,
            submit=nothing,
        )
        check_modal(modal.to_dict())


def test_typed_options_replace_the_jobs_and_an_emptied_one_goes() -> None:
    options = {"ratio": "16:9", "resolution": "2k", "count": 2}
    typed = {"prompt": "x", "ratio": " 1:1 ", "resolution": ""}
    chosen = remix_options(options, typed, ["ratio", "resolution"])
    assert chosen == {"ratio": "1:1", "count": 2}
    assert options["resolution"] == "2k"  # the job's own options are left alone


def test_the_prompt_limit_stays_within_discords() -> None:
    assert prompt_limit(4000) == 4000
    assert prompt_limit(2500) == 2500
    assert prompt_limit(10_000) == 4000


async def test_animate_asks_how_it_should_move_optionally() -> None:
    payload = animate_modal(job(), locale="en-US", limit=4000, submit=nothing).to_dict()
    check_modal(payload)
    assert payload["title"] == "Animate job #12"
    (motion,) = inputs(payload).values()
    assert motion["label"] == "How should it move?" and not motion["required"]
    assert motion["style"] == 2 and "value" not in motion


async def test_the_modals_speak_the_members_language() -> None:
    model = CATALOG.get("nano-banana-2")
    remix = remix_modal(job(), model, locale="zh-CN", limit=4000, submit=nothing).to_dict()
    assert remix["title"] == "改写重做任务 #12"
    assert [f["label"] for f in inputs(remix).values()] == ["提示词", "比例", "分辨率"]
    animate = animate_modal(job(), locale="zh-CN", limit=4000, submit=nothing).to_dict()
    assert animate["title"] == "将任务 #12 做成视频"
