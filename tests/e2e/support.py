"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

from tests.discord_world import InjectedInteraction, Message


async def answer(ix: InjectedInteraction) -> Message:
    """The message the member finally sees: the response, or the deferral's filling."""
    callback = await ix.wait_response()
    if callback.type == 5:
        return await ix.wait_original(lambda m: not m.loading)
    assert ix.original is not None
    return ix.original
