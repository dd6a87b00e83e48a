"""Discord's message limits, checked the way the API does (400 / 50035), so a bot
that oversteps one fails in a test as it would in production."""

from __future__ import annotations

from typing import Any

from tests.discord_world.errors import ApiError, invalid_form

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_FILES = 10
MAX_ROWS = 5
MAX_ROW_ITEMS = 5
MAX_CUSTOM_ID = 100


def check_message(payload: dict[str, Any], *, n_files: int, creating: bool) -> None:
    content = payload.get("content")
    if content is not None and len(str(content)) > MAX_CONTENT:
        raise invalid_form("content", "Must be 2000 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    embeds = payload.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        raise invalid_form("embeds", "Must be 10 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    total = 0
    for index, embed in enumerate(embeds):
        total += _check_embed(index, embed)
    if total > MAX_EMBED_TOTAL:
        raise invalid_form(
            "embeds", "Embed size exceeds maximum size of 6000", "MAX_EMBED_SIZE_EXCEEDED"
        )
    if n_files > MAX_FILES:
        raise invalid_form("files", "Must be 10 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    _check_components(payload.get("components") or [])
    if creating and not (
        content
        or embeds
        or n_files
        or payload.get("components")
        or payload.get("sticker_ids")
        or payload.get("poll")
    ):
        raise ApiError(50006)


def _check_embed(index: int, embed: dict[str, Any]) -> int:
    limits = {"title": 256, "description": 4096}
    size = 0
    for key, limit in limits.items():
        text = embed.get(key) or ""
        if len(text) > limit:
            raise invalid_form(
                f"embeds.{index}.{key}",
                f"Must be {limit} or fewer in length.",
                "BASE_TYPE_MAX_LENGTH",
            )
        size += len(text)
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise invalid_form(
            f"embeds.{index}.fields", "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH"
        )
    for n, field in enumerate(fields):
        name, value = field.get("name") or "", field.get("value") or ""
        if not name or not value:
            raise invalid_form(
                f"embeds.{index}.fields.{n}", "This field is required", "BASE_TYPE_REQUIRED"
            )
        if len(name) > 256 or len(value) > 1024:
            raise invalid_form(
                f"embeds.{index}.fields.{n}", "Field too long.", "BASE_TYPE_MAX_LENGTH"
            )
        size += len(name) + len(value)
    footer = (embed.get("footer") or {}).get("text") or ""
    author = (embed.get("author") or {}).get("name") or ""
    if len(footer) > 2048 or len(author) > 256:
        raise invalid_form(f"embeds.{index}", "Footer or author too long.", "BASE_TYPE_MAX_LENGTH")
    return size + len(footer) + len(author)


def _check_components(rows: list[dict[str, Any]]) -> None:
    top_level_rows = [r for r in rows if r.get("type") == 1]
    if len(top_level_rows) > MAX_ROWS:
        raise invalid_form("components", "Must be 5 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    for index, row in enumerate(top_level_rows):
        items = row.get("components") or []
        if not items or len(items) > MAX_ROW_ITEMS:
            raise invalid_form(
                f"components.{index}.components",
                "Must be between 1 and 5 in length.",
                "BASE_TYPE_BAD_LENGTH",
            )
    seen: set[str] = set()

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            custom_id = item.get("custom_id")
            if custom_id is not None:
                if len(custom_id) > MAX_CUSTOM_ID:
                    raise invalid_form(
                        "components",
                        "custom_id must be 100 or fewer in length.",
                        "BASE_TYPE_MAX_LENGTH",
                    )
                if custom_id in seen:
                    raise invalid_form(
                        "components",
                        "Component custom id cannot be duplicated",
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                    )
                seen.add(custom_id)
            walk(item.get("components") or [])
            if "accessory" in item:
                walk([item["accessory"]])

    walk(rows)
