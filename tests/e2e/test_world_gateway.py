"""Gateway life (resume, invalidation, restart) and the interactions injected over it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.discord_world import World
from tests.e2e.conftest import ECHO_EXTENSIONS


async def test_resume_after_reconnect_request(world: World, echo_bot: Any) -> None:
    world.gateway.request_reconnect()
    await world.wait_for(
        lambda: world.gateway.resumes == 1 and world.gateway.connected, what="the bot to resume"
    )
    assert world.gateway.identifies == 1
    ix = await world.slash("echo", {"text": "after resume"})
    assert (await ix.wait_response()).type == 4


async def test_events_missed_while_dropped_are_replayed(world: World, echo_bot: Any) -> None:
    await world.gateway.drop()
    assert not world.gateway.connected
    # Sent while the bot is away: Discord keeps it for the session and replays it.
    ix = await world.slash("echo", {"text": "while away"})
    await world.wait_for(lambda: world.gateway.resumes == 1, what="the bot to resume")
    await ix.wait_response()
    assert ix.original is not None and ix.original.content == "while away"
    assert world.gateway.identifies == 1


async def test_invalid_session_makes_the_bot_identify_again(world: World, echo_bot: Any) -> None:
    world.gateway.invalidate()
    await world.wait_for(
        lambda: world.gateway.identifies == 2 and world.gateway.connected, what="a second IDENTIFY"
    )
    ix = await world.slash("echo", {"text": "new session"})
    await ix.wait_response()


async def test_persistent_button_works_across_a_restart(
    world: World, make_bot: Callable[..., Any], run_bot: Any
) -> None:
    async with run_bot(make_bot(extensions=ECHO_EXTENSIONS)):
        ix = await world.slash("counter")
        await ix.wait_response()
        message = ix.original
        assert message is not None and message.custom_ids() == ["echo:count:0"]
    assert len(world.command_syncs) == 1
    async with run_bot(make_bot(extensions=ECHO_EXTENSIONS)):
        click = await world.click(message, "echo:count:0")
        assert (await click.wait_response()).type == 7
    assert message.content == "clicked 0"
    assert message.custom_ids() == ["echo:count:1"]
    assert world.gateway.identifies == 2
    assert len(world.command_syncs) == 1  # unchanged commands are not synced again


async def test_view_button_on_an_ephemeral_message(world: World, echo_bot: Any) -> None:
    ix = await world.slash("models")
    await ix.wait_response()
    page = ix.original
    assert page is not None and page.ephemeral
    if page.component_by_label("Next").get("disabled"):
        pytest.skip("the catalogue fits on one page")
    first = page.embed_text()
    click = await world.click(page, label="Next")
    assert (await click.wait_response()).type == 7
    assert page.embed_text() != first
    stranger = await world.click(page, label="Previous", user=world.moderator)
    await world.settle()
    assert stranger.callback is None  # the pager answers only its owner


async def test_autocomplete_offers_choices(world: World, echo_bot: Any) -> None:
    ix = await world.autocomplete("pick", {"fruit": "ap"}, focused="fruit")
    assert [c["value"] for c in await ix.choices()] == ["apple", "apricot"]


async def test_subcommand_sees_roles_permissions_and_channel(world: World, echo_bot: Any) -> None:
    ix = await world.slash("tools whoami", user=world.moderator, channel=world.nsfw_channel)
    await ix.wait_response()
    assert ix.response.ephemeral
    assert ix.original is not None
    assert ix.original.content == (
        f"moderator manage_guild=True nsfw=True attach=True limit={world.guild.upload_limit}"
    )
    plain = await world.slash("tools whoami", user=world.member)
    await plain.wait_response()
    assert plain.original is not None
    assert "member manage_guild=False nsfw=False" in plain.original.content


async def test_attachment_option_is_resolved_and_downloadable(world: World, echo_bot: Any) -> None:
    upload = world.attachment("pic.png", b"\x89PNG-data", content_type="image/png")
    ix = await world.slash("mirror", {"file": upload})
    await ix.wait_response()
    reply = ix.original
    assert reply is not None and reply.content == "pic.png: 9 bytes"
    assert reply.file_named("reversed-pic.png").data == b"\x89PNG-data"[::-1]


async def test_injection_refuses_what_a_client_cannot_send(world: World, echo_bot: Any) -> None:
    with pytest.raises(ValueError, match="requires"):
        await world.slash("echo", {})
    with pytest.raises(ValueError, match="no option"):
        await world.slash("echo", {"text": "x", "colour": "red"})
    with pytest.raises(LookupError, match="not synced"):
        await world.slash("nonexistent")
    with pytest.raises(ValueError, match="subcommand"):
        await world.slash("tools")


async def test_modal_is_opened_and_submitted(world: World, echo_bot: Any) -> None:
    opened = await world.slash("feedback")
    assert (await opened.wait_response()).type == 9
    submitted = await world.submit_modal(opened, {"words": "lovely bot"})
    await submitted.wait_response()
    assert submitted.original is not None
    assert submitted.original.content == "thanks for: lovely bot"
