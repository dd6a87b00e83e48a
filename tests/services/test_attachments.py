"""A member's attachments are checked from Discord's metadata before a job is accepted."""

from __future__ import annotations

import pytest

from bot.domain.catalog import Catalog
from bot.services.attachments import (
    MAX_IMAGE_BYTES,
    AttachmentError,
    AttachmentInfo,
    check_image,
    check_images,
    human_bytes,
)


def image(
    name: str = "cat.png", size: int = 1000, content_type: str | None = "image/png"
) -> AttachmentInfo:
    return AttachmentInfo(name, size, f"https://cdn.example/{name}", content_type)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("cat.png", "image/png"),
        ("CAT.PNG", "image/png"),
        ("photo.jpg", "image/jpeg"),
        ("photo.jpeg", "image/jpeg; charset=binary"),
        ("art.webp", "image/webp"),
        ("loop.gif", "image/gif"),
        ("cat.png", None),  # no declared type: the extension decides
        ("cat.png", "image/jpeg"),  # a mislabelled image is still an image
    ],
)
def test_plain_images_pass(name: str, content_type: str | None) -> None:
    check_image(image(name, content_type=content_type))


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("notes.txt", "text/plain"),
        ("cat.png", "text/html"),  # declared type says it is not an image
        ("cat", "image/png"),  # no extension
        ("cat.svg", "image/svg+xml"),  # scripts inside; Max API does not take it
        ("clip.mp4", "video/mp4"),
        ("cat.png.exe", "application/octet-stream"),
    ],
)
def test_other_files_are_refused_by_name(name: str, content_type: str | None) -> None:
    with pytest.raises(AttachmentError) as caught:
        check_image(image(name, content_type=content_type))
    assert name in caught.value.message
    assert "PNG, JPEG, WebP or GIF" in caught.value.message


def test_size_cap_and_empty_files() -> None:
    check_image(image(size=MAX_IMAGE_BYTES))
    with pytest.raises(AttachmentError, match=r"31\.5 MB; the limit is 20\.0 MB"):
        check_image(image(size=33_000_000))
    with pytest.raises(AttachmentError, match="limit is 1 KB"):
        check_image(image(size=2048), max_bytes=1024)
    with pytest.raises(AttachmentError, match="empty"):
        check_image(image(size=0))


def test_check_images_returns_urls_in_order_and_checks_each(catalog: Catalog) -> None:
    model = catalog.get("nano-banana-2")
    urls = check_images([image("a.png"), image("b.jpg", content_type="image/jpeg")], model)
    assert urls == ["https://cdn.example/a.png", "https://cdn.example/b.jpg"]
    with pytest.raises(AttachmentError, match=r"b\.txt"):
        check_images([image("a.png"), image("b.txt", content_type="text/plain")], model)
    assert check_images([], model) == []


def test_messages_are_translated() -> None:
    with pytest.raises(AttachmentError) as caught:
        check_image(image("notes.txt", content_type="text/plain"), locale="zh-CN")
    assert "notes.txt" in caught.value.message  # English fallback keeps the fields


def test_human_bytes() -> None:
    assert human_bytes(512) == "512 bytes"
    assert human_bytes(2048) == "2 KB"
    assert human_bytes(5 * 1024 * 1024) == "5.0 MB"
