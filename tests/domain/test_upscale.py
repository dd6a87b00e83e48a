"""Upscale's rule: the highest resolution an image model's image form takes, when it is
above the one the job used."""

from __future__ import annotations

import json
from pathlib import Path

from bot.domain.catalog import Catalog
from bot.domain.upscale import image_model, upscale_target


def test_a_1k_image_upscales_to_4k(catalog: Catalog) -> None:
    assert upscale_target(catalog, "nano-banana-2", {"resolution": "1k"}, "image") == "4k"
    assert upscale_target(catalog, "nano-banana-2", {"resolution": "2K"}, "image") == "4k"


def test_none_at_the_highest_or_for_videos(catalog: Catalog) -> None:
    assert upscale_target(catalog, "nano-banana-2", {"resolution": "4k"}, "image") is None
    assert upscale_target(catalog, "veo3", {"resolution": "1080p"}, "video") is None
    assert upscale_target(catalog, "nano-banana", {}, "image") is None  # no resolution at all


def test_unchosen_resolution_is_the_default_else_the_lowest(catalog: Catalog) -> None:
    assert upscale_target(catalog, "gpt-image-2/text-to-image", {}, "image") == "4k"
    assert upscale_target(catalog, "seedream-5-lite", {}, "image") == "4k"


def test_the_image_form_decides(catalog: Catalog) -> None:
    # grok's text-to-image takes 1080p, but its image-to-image form takes no resolution.
    assert image_model(catalog, "grok-imagine/text-to-image-pro") is not None
    assert (
        upscale_target(catalog, "grok-imagine/text-to-image-pro", {"resolution": "720p"}, "image")
        is None
    )
    gpt = image_model(catalog, "gpt-image-2/text-to-image")
    assert gpt is not None and gpt.id == "gpt-image-2/image-to-image"
    assert image_model(catalog, "no-such-model") is None


def test_a_disabled_model_has_no_upscale_and_raises_nothing() -> None:
    """Results of a model the operator has since disabled are still delivered: no button."""
    doc = json.loads((Path(__file__).parents[2] / "bot/data/catalog.json").read_text())
    doc["models"]["seedream-5-lite"]["enabled"] = False
    catalog = Catalog.from_document(doc)
    assert upscale_target(catalog, "seedream-5-lite", {}, "image") is None
