"""The local Discord's modals: a modal a bot opens is checked against Discord's limits,
and a submit carries what a real client would (required inputs filled, lengths kept,
prefilled text sent back when the member leaves it)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.discord_world import World
from tests.discord_world.errors import ApiError
from tests.discord_world.modals import check_modal, client_values

PROMPT = {"type": 4, "custom_id": "prompt", "style": 2, "value": "a fox", "max_length": 10}
RATIO = {"type": 4, "custom_id": "ratio", "style": 1, "required": False}


def modal(*inputs: dict[str, Any], title: str = "Remix job #1") -> dict[str, Any]:
    return {
        "custom_id": "m",
        "title": title,
        "components": [{"type": 18, "label": "Field", "component": i} for i in inputs],
    }


async def test_a_submit_needs_what_a_client_needs(world: World, echo_bot: Any) -> None:
    opened = await world.slash("feedback")
    assert (await opened.wait_response()).type == 9
    with pytest.raises(ValueError, match="required"):
        await world.submit_modal(opened, {})
    with pytest.raises(ValueError, match="no text input"):
        await world.submit_modal(opened, {"words": "hi", "other": "x"})
    submitted = await world.submit_modal(opened, {"words": "kind words"})
    await submitted.wait_response()
    assert submitted.original is not None
    assert submitted.original.content == "thanks for: kind words"


def test_prefilled_text_is_sent_back_and_lengths_are_kept() -> None:
    form = modal(PROMPT, RATIO)
    assert client_values(form, {}) == {"prompt": "a fox", "ratio": ""}
    assert client_values(form, {"ratio": "1:1"}) == {"prompt": "a fox", "ratio": "1:1"}
    with pytest.raises(ValueError, match="1 to 10 characters"):
        client_values(form, {"prompt": "a fox in the snow"})
    with pytest.raises(ValueError, match="required"):
        client_values(form, {"prompt": ""})


@pytest.mark.parametrize(
    "bad",
    [
        modal(PROMPT, title="x" * 46),
        modal(PROMPT, title=""),
        modal(*[PROMPT | {"custom_id": f"p{i}"} for i in range(6)]),
        modal(),
        modal(PROMPT, PROMPT),
        modal(PROMPT | {"max_length": 4001}),
        modal(PROMPT | {"placeholder": "p" * 101}),
        modal(PROMPT | {"value": "v" * 4001}),
        {**modal(PROMPT), "components": [{"type": 18, "label": "L" * 46, "component": PROMPT}]},
    ],
)
def test_a_modal_outside_discords_limits_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as caught:
        check_modal(bad)
    assert caught.value.code == 50035


def test_a_modal_within_the_limits_passes() -> None:
    check_modal(modal(PROMPT, RATIO, title="t" * 45))
