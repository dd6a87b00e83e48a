"""The model switchboard end to end (``/settings models pause|resume``): a paused model is
refused with the moderators' reason before anything is reserved, from commands and from
result buttons; it leaves autocomplete and the Animate picker, shows as paused in
``/models`` and ``/settings show``; a job already running finishes; resuming brings it back."""

from __future__ import annotations

from bot.domain.job_states import JobState
from simulator import Simulator
from tests.discord_world import Message, World
from tests.e2e.support import (
    App,
    answer,
    as_moderator,
    card,
    job_id_of,
    refusal,
    run_to_the_end,
    settled,
)

PAUSED = "nano-banana-2"
REASON = "Too expensive this week."
SAID = (
    f"Moderators paused `{PAUSED}` in this server: Too expensive this week. Choose another model."
)


async def pause(world: World, model: str = PAUSED, reason: str | None = REASON) -> Message:
    options = {"model": model} | ({"reason": reason} if reason else {})
    return await as_moderator(world, "settings models pause", options)


async def offered(world: World, command: str, typed: str) -> list[str]:
    ix = await world.autocomplete(command, {"prompt": "x", "model": typed}, focused="model")
    return [c["value"] for c in await ix.choices()]


async def test_a_paused_model_is_refused_with_the_reason_and_costs_nothing(
    world: World, sim: Simulator, app: App
) -> None:
    said = (await pause(world)).embed_text()
    assert f"paused `{PAUSED}`: Too expensive this week" in said
    assert "Paused models" in said  # the settings, the change on top
    config = await app.store.guild_config(world.guild.id)
    assert config.paused_models == {PAUSED: "Too expensive this week"}

    for command in ("imagine", "nanobanana"):
        ix = await world.slash(command, {"prompt": "a fox", "model": PAUSED})
        assert SAID in await refusal(ix), command
    assert await app.store.count_by_state() == {}  # nothing recorded, nothing reserved
    assert sim.submissions == []
    refused = [e for e in await app.store.audit_entries(world.guild.id) if e["action"] == "refused"]
    assert len(refused) == 2 and "Moderators paused" in refused[0]["detail"]["reason"]

    # Naming no model falls back to one not paused instead of refusing.
    job, _ = await run_to_the_end(world, app, await world.slash("imagine", {"prompt": "a fox"}))
    assert job.model != PAUSED and job.media == "image"

    assert PAUSED not in await offered(world, "imagine", "nano")
    assert "nano-banana" in await offered(world, "imagine", "nano")

    models = (await answer(await world.slash("models"))).embed_text()
    assert f"⏸ Nano Banana 2 — `{PAUSED}`" in models
    assert "Paused in this server:** Too expensive this week" in models
    shown = (await as_moderator(world, "settings show", {})).embed_text()
    assert f"`{PAUSED}` — Too expensive this week" in shown

    # Pausing again with the same reason, an unknown model, resuming one not paused.
    again = (await pause(world)).embed_text()
    assert f"`{PAUSED}` is already paused." in again
    unknown = (await pause(world, "dall-e-9")).embed_text()
    assert "Unknown model `dall-e-9`" in unknown
    not_paused = await as_moderator(world, "settings models resume", {"model": "veo3"})
    assert "`veo3` is not paused in this server." in not_paused.embed_text()

    resumed = await as_moderator(world, "settings models resume", {"model": PAUSED})
    assert f"resumed `{PAUSED}`" in resumed.embed_text()
    assert (await app.store.guild_config(world.guild.id)).paused_models == {}
    ix = await world.slash("imagine", {"prompt": "a fox", "model": PAUSED})
    job, _ = await run_to_the_end(world, app, ix)
    assert job.model == PAUSED
    assert PAUSED in await offered(world, "imagine", "nano")
    changes = [
        e["detail"]
        for e in await app.store.audit_entries(world.guild.id)
        if e["action"] == "settings.models"
    ]
    assert {"paused": PAUSED, "reason": "Too expensive this week"}.items() <= changes[-1].items()
    assert changes[0]["resumed"] == PAUSED  # newest first


async def test_a_pause_without_a_reason_says_so_and_resume_lists_paused_models(
    world: World, app: App
) -> None:
    await pause(world, "veo3", None)
    ix = await world.slash("video", {"prompt": "a fox", "model": "veo3"})
    said = await refusal(ix)
    assert "Moderators paused `veo3` in this server. Choose another model." in said
    choices = await (
        await world.autocomplete(
            "settings models resume", {"model": ""}, focused="model", user=world.moderator
        )
    ).choices()
    assert [c["value"] for c in choices] == ["veo3"]
    choices = await (
        await world.autocomplete(
            "settings models pause", {"model": "veo"}, focused="model", user=world.moderator
        )
    ).choices()
    assert "veo3" not in [c["value"] for c in choices] and "veo3_fast" in [
        c["value"] for c in choices
    ]


async def test_a_running_job_finishes_and_buttons_are_refused_while_paused(
    world: World, sim: Simulator, app: App
) -> None:
    ix = await world.slash("imagine", {"prompt": "a slow fox [sim:seconds=150]", "model": PAUSED})
    job_id = job_id_of(await card(ix))
    await pause(world)
    job = await settled(app.store, job_id)
    assert job.state == JobState.DELIVERED  # paused after it started: it finishes
    result = world.message(job.result_message_ids[-1])
    before = await app.store.count_by_state()

    for action in ("reroll", "remix", "vary"):
        click = await world.click(result, f"atelier:{action}:{job.id}")
        assert SAID in await refusal(click), action
    await pause(world, "veo3_fast", "broken today")
    click = await world.click(result, f"atelier:animate:{job.id}")
    await click.wait_response()  # the motion modal, then the picker
    submitted = await world.submit_modal(click, {})
    await submitted.wait_response()
    picker = submitted.original
    assert picker is not None
    (select,) = [c for c in picker.buttons() if c.get("type") == 3]
    offered = [o["value"] for o in select["options"]]
    assert "veo3" in offered and "veo3_fast" not in offered
    assert await app.store.count_by_state() == before
    assert len(sim.submissions) == 1


async def test_members_cannot_pause_or_resume(world: World, app: App) -> None:
    await pause(world)
    for name, options in (
        ("settings models pause", {"model": "veo3"}),
        ("settings models resume", {"model": PAUSED}),
        ("settings models set", {"allowed": "all"}),
    ):
        message = await answer(await world.slash(name, options, user=world.member))
        text = message.embed_text()
        assert message.ephemeral and "Manage Server" in text, name
    assert (await app.store.guild_config(world.guild.id)).paused_models == {
        PAUSED: "Too expensive this week"
    }


async def test_the_pause_is_told_in_chinese(world: World, app: App) -> None:
    await pause(world)
    ix = await world.slash("imagine", {"prompt": "一只狐狸", "model": PAUSED}, locale="zh-CN")
    said = await refusal(ix)
    assert f"本服务器的管理员已暂停 `{PAUSED}`：Too expensive this week。请选择其他模型。" in said
    models = (await answer(await world.slash("models", locale="zh-CN"))).embed_text()
    assert "本服务器已暂停：**Too expensive this week" in models
    message = await answer(
        await world.slash(
            "settings models resume", {"model": PAUSED}, user=world.moderator, locale="zh-CN"
        )
    )
    assert f"已恢复 `{PAUSED}`" in message.embed_text()
    assert "已暂停的模型" in message.embed_text()
