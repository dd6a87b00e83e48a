"""Which images a Discord message holds, in order, for the message commands.

Plain values in, plain values out: attachments first (image ones only), then the embeds'
images (an embed's image, else its thumbnail); the same URL counts once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.catalog import Model

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".avif", ".heic")


@dataclass(frozen=True, slots=True)
class FileRef:
    """One attachment of a message: its name, declared type and URL."""

    filename: str
    content_type: str | None
    url: str


def is_image(file: FileRef) -> bool:
    """An image by its declared type (``image/*``) or by its file name."""
    kind = (file.content_type or "").lower()
    return kind.startswith("image/") or file.filename.lower().endswith(IMAGE_SUFFIXES)


def embed_image_url(embed: Mapping[str, Any]) -> str | None:
    """The picture an embed shows: its image, else its thumbnail."""
    for key in ("image", "thumbnail"):
        url = (embed.get(key) or {}).get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return url
    return None


def message_image_urls(files: Iterable[FileRef], embeds: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every image of a message, in order: attachments, then embeds; no URL twice."""
    found: list[str] = []
    for url in [f.url for f in files if is_image(f)] + [embed_image_url(e) or "" for e in embeds]:
        if url and url not in found:
            found.append(url)
    return found


def takes_images(model: Model, count: int) -> bool:
    """Whether ``model`` starts from images given ``count`` of them (at least one)."""
    spec = model.images
    return spec is not None and spec.min <= max(count, 1) and (spec.max is None or spec.max >= 1)


def first_images(model: Model, urls: list[str]) -> list[str]:
    """The first images up to the model's maximum."""
    spec = model.images
    limit = len(urls) if spec is None or spec.max is None else spec.max
    return urls[:limit]
