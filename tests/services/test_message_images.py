"""Which images a message holds: attachments (image ones) first, then embeds' pictures."""

from __future__ import annotations

from bot.domain.catalog import Catalog
from bot.services.message_images import (
    FileRef,
    first_images,
    is_image,
    message_image_urls,
    takes_images,
)


def test_attachments_then_embeds_in_order_without_repeats() -> None:
    files = [
        FileRef("a.png", "image/png", "https://cdn/a.png"),
        FileRef("notes.txt", "text/plain", "https://cdn/notes.txt"),
        FileRef("b.webp", None, "https://cdn/b.webp"),
    ]
    embeds = [
        {"image": {"url": "https://x/c.png"}},
        {"thumbnail": {"url": "https://x/d.png"}},
        {"title": "no picture"},
        {"image": {"url": "https://cdn/a.png"}},
        {"image": {"url": "attachment://e.png"}},
    ]
    assert message_image_urls(files, embeds) == [
        "https://cdn/a.png",
        "https://cdn/b.webp",
        "https://x/c.png",
        "https://x/d.png",
    ]


def test_an_image_by_type_or_by_name() -> None:
    assert is_image(FileRef("photo", "image/jpeg", "u"))
    assert is_image(FileRef("result.PNG", "application/octet-stream", "u"))
    assert not is_image(FileRef("clip.mp4", "video/mp4", "u"))
    assert message_image_urls([FileRef("clip.mp4", "video/mp4", "u")], []) == []


def test_first_images_up_to_the_models_maximum() -> None:
    catalog = Catalog.load()
    grok = catalog.get("grok-imagine/image-to-image")
    urls = ["1", "2", "3", "4"]
    assert grok.images is not None and grok.images.max == 2
    assert first_images(grok, urls) == ["1", "2"]
    assert first_images(grok, ["1"]) == ["1"]
    assert takes_images(grok, 1)
    assert not takes_images(catalog.get("grok-imagine/text-to-video"), 1)
