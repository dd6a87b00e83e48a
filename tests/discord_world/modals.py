"""Modals as Discord checks them: the modal a bot opens (callback type 9) against the
documented limits (a 400 / 50035 like the API's), and what a member's client can submit
(required inputs filled, lengths within min_length..max_length, prefilled text kept)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tests.discord_world.errors import invalid_form

MAX_TITLE = 45
MAX_COMPONENTS = 5
MAX_CUSTOM_ID = 100
MAX_LABEL = 45
MAX_DESCRIPTION = 100
MAX_PLACEHOLDER = 100
MAX_TEXT = 4000
ACTION_ROW, TEXT_INPUT, LABEL = 1, 4, 18


def text_inputs(components: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every text input of a modal with the label it shows (in a Label or, the older
    way, on the input itself inside an action row)."""
    for component in components:
        kind = component.get("type")
        if kind == ACTION_ROW:
            for inner in component.get("components") or []:
                if inner.get("type") == TEXT_INPUT:
                    yield str(inner.get("label") or ""), inner
        elif kind == LABEL:
            inner = component.get("component") or {}
            if inner.get("type") == TEXT_INPUT:
                yield str(component.get("label") or ""), inner


def _length(field: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise invalid_form(
            field, f"Must be between {low} and {high} in length.", "BASE_TYPE_BAD_LENGTH"
        )


def check_modal(data: Mapping[str, Any]) -> None:
    """Refuse a modal Discord would refuse: title, custom id, 1 to 5 components, and
    each label and text input within its limits."""
    _length("data.title", data.get("title"), 1, MAX_TITLE)
    _length("data.custom_id", data.get("custom_id"), 1, MAX_CUSTOM_ID)
    components = data.get("components") or []
    if not 1 <= len(components) <= MAX_COMPONENTS:
        raise invalid_form(
            "data.components", "Must be between 1 and 5 in length.", "BASE_TYPE_BAD_LENGTH"
        )
    seen: set[str] = set()
    for index, component in enumerate(components):
        where = f"data.components.{index}"
        if component.get("type") == LABEL:
            _length(f"{where}.label", component.get("label"), 1, MAX_LABEL)
            if component.get("description") is not None:
                _length(f"{where}.description", component["description"], 0, MAX_DESCRIPTION)
        elif component.get("type") == ACTION_ROW and len(component.get("components") or []) != 1:
            raise invalid_form(
                f"{where}.components", "Must be 1 in length.", "BASE_TYPE_BAD_LENGTH"
            )
    for label, field in text_inputs(components):
        custom_id = field.get("custom_id")
        _length("text_input.custom_id", custom_id, 1, MAX_CUSTOM_ID)
        if custom_id in seen:
            raise invalid_form(
                "components",
                "Component custom id cannot be duplicated",
                "COMPONENT_CUSTOM_ID_DUPLICATED",
            )
        seen.add(custom_id)
        _length("text_input.label", label, 1, MAX_LABEL)
        if field.get("style") not in (1, 2):
            raise invalid_form("text_input.style", "Value must be one of {1, 2}.")
        low, high = field.get("min_length"), field.get("max_length")
        if low is not None and not 0 <= low <= MAX_TEXT:
            raise invalid_form("text_input.min_length", "Must be between 0 and 4000.")
        if high is not None and not 1 <= high <= MAX_TEXT:
            raise invalid_form("text_input.max_length", "Must be between 1 and 4000.")
        if field.get("placeholder") is not None:
            _length("text_input.placeholder", field["placeholder"], 0, MAX_PLACEHOLDER)
        if field.get("value") is not None:
            _length("text_input.value", field["value"], 0, MAX_TEXT)


def client_values(modal: Mapping[str, Any], typed: Mapping[str, str]) -> dict[str, str]:
    """What the member's client submits: ``typed`` where given, else the prefilled text.
    Raises ValueError for what a client refuses to send (an empty required input, a text
    outside min_length..max_length, an input the modal does not have)."""
    inputs = {str(f.get("custom_id")): f for _, f in text_inputs(modal.get("components") or [])}
    unknown = set(typed) - set(inputs)
    if unknown:
        raise ValueError(f"the modal has no text input {sorted(unknown)}")
    values: dict[str, str] = {}
    for custom_id, field in inputs.items():
        value = typed.get(custom_id, field.get("value") or "")
        if not value:
            if field.get("required", True):
                raise ValueError(f"{custom_id!r} is required; a client cannot submit it empty")
        else:
            low = max(int(field.get("min_length") or 0), 1 if field.get("required", True) else 0)
            high = int(field.get("max_length") or MAX_TEXT)
            if not low <= len(value) <= high:
                raise ValueError(
                    f"{custom_id!r} takes {low} to {high} characters, not {len(value)}"
                )
        values[custom_id] = value
    return values
