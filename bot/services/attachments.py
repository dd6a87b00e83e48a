"""Checks on a member's image attachments, from Discord's metadata alone.

The bot never downloads what a member attaches: Max API fetches the Discord URL
itself (``attachment_probe`` reads only each file's first bytes, after these checks).
So the checks here use only what Discord tells about each file (its name,
declared content type and size), and they run before a job is accepted, so a bad file
costs nothing and records nothing. Attachment options' ``file_types`` hints are
enforced only by the client; these checks hold whatever the client sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from bot.domain.catalog import Model, ValidationError
from bot.domain.errors import UserFacingError
from bot.domain.media import MEDIA_TYPES, Kind, check_references, kind_of_name
from bot.domain.options import check_image_count
from bot.domain.units import human_bytes
from bot.text.i18n import t

#: Image types Max API takes on every model that takes images, with their extensions.
IMAGE_TYPES: dict[str, tuple[str, ...]] = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/webp": (".webp",),
    "image/gif": (".gif",),
}
IMAGE_EXTENSIONS = frozenset(ext for exts in IMAGE_TYPES.values() for ext in exts)
KINDS_TEXT = "PNG, JPEG, WebP or GIF"
#: Larger inputs make Max API slow or refuse; Discord lets Nitro members upload far more.
MAX_IMAGE_BYTES = 20 * 1024 * 1024


class AttachmentError(UserFacingError):
    """An attachment Atelier will not pass on; the message names the file and the fix."""

    title = "Can't use that attachment"


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """What Discord says about one attached file."""

    filename: str
    size: int
    url: str
    content_type: str | None = None

    @property
    def extension(self) -> str:
        return PurePosixPath(self.filename).suffix.lower()

    @property
    def declared_type(self) -> str | None:
        if not self.content_type:
            return None
        return self.content_type.split(";", 1)[0].strip().lower() or None


def check_image(
    info: AttachmentInfo, *, max_bytes: int = MAX_IMAGE_BYTES, locale: str | None = None
) -> None:
    """Refuse a file that is not a plain image of an accepted type, or too large.

    Both the extension and the declared type (when Discord gives one) must name an
    accepted image type: a ``.png`` declared ``text/html`` is refused, and so is a
    file with no image extension whatever it claims to be."""
    name = info.filename
    declared = info.declared_type
    if info.extension not in IMAGE_EXTENSIONS or (
        declared is not None and declared not in IMAGE_TYPES
    ):
        raise AttachmentError(
            t(
                locale,
                "“{name}” is not an image Atelier can use. Attach a {kinds} file.",
                name=name,
                kinds=KINDS_TEXT,
            )
        )
    if info.size <= 0:
        raise AttachmentError(t(locale, "“{name}” is empty. Attach the image again.", name=name))
    if info.size > max_bytes:
        raise AttachmentError(
            t(
                locale,
                "“{name}” is {size}; the limit is {limit}. Attach a smaller image.",
                name=name,
                size=human_bytes(info.size),
                limit=human_bytes(max_bytes),
            )
        )


def check_images(
    infos: Sequence[AttachmentInfo],
    model: Model,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    locale: str | None = None,
) -> list[str]:
    """Check every attachment for ``model`` and return their URLs, in order."""
    try:
        check_image_count(model, len(infos))
    except ValidationError as exc:
        raise AttachmentError(t(locale, exc.template, **exc.fields)) from None
    for info in infos:
        check_image(info, max_bytes=max_bytes, locale=locale)
    return [info.url for info in infos]


#: Video and audio references: Max API fetches them itself; larger files are refused.
MAX_MEDIA_BYTES = 100 * 1024 * 1024
NOT_MEDIA = "“{name}” is not a {kind} file Atelier can use. Attach {formats}."
KIND_NAMES: dict[Kind, str] = {"video": "video", "audio": "sound"}
MEDIA_FORMATS: dict[Kind, str] = {"video": ".mp4, .mov or .m4v", "audio": ".mp3 or .wav"}


def check_media_file(info: AttachmentInfo, kind: Kind, *, locale: str | None = None) -> None:
    """Refuse a video or audio reference whose name or declared type is not ``kind``, or
    that is empty or too large."""
    declared = info.declared_type
    if kind_of_name(info.filename) != kind or (
        declared is not None and MEDIA_TYPES.get(declared) != kind
    ):
        raise AttachmentError(
            t(
                locale,
                NOT_MEDIA,
                name=info.filename,
                kind=t(locale, KIND_NAMES[kind]),
                formats=MEDIA_FORMATS[kind],
            )
        )
    if info.size <= 0:
        raise AttachmentError(t(locale, "“{name}” is empty. Attach it again.", name=info.filename))
    if info.size > MAX_MEDIA_BYTES:
        raise AttachmentError(
            t(
                locale,
                "“{name}” is {size}; the limit is {limit}. Attach a smaller file.",
                name=info.filename,
                size=human_bytes(info.size),
                limit=human_bytes(MAX_MEDIA_BYTES),
            )
        )


def check_inputs(
    images: Sequence[AttachmentInfo],
    media: Sequence[tuple[AttachmentInfo, Kind]],
    model: Model,
    *,
    locale: str | None = None,
) -> list[str]:
    """Check images and video/audio references for ``model``; their URLs in the order
    they go to Max API (images, then the references as given)."""
    urls = check_images(images, model, locale=locale)
    counts: dict[Kind, int] = {"image": len(images), "video": 0, "audio": 0}
    for _, kind in media:
        counts[kind] += 1
    try:
        check_references(model, counts)
    except ValidationError as exc:
        raise AttachmentError(t(locale, exc.template, **exc.fields)) from None
    for info, kind in media:
        check_media_file(info, kind, locale=locale)
    return [*urls, *(info.url for info, _ in media)]
