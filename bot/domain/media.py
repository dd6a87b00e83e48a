"""Input files by kind (image, video, audio): which a model takes, how many, how long.

A job's files go to Max API in one list in option order: images, then videos, then
audio, so ``@1``, ``@2``… in a Seedance prompt name them in that order. The kind of a
file already sent is read from its URL's extension (Discord's links end in the file
name); a link with no known extension counts as an image, as Max API treats it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import urlsplit

from bot.domain.catalog_types import Model, ValidationError

Kind = Literal["image", "video", "audio"]
KINDS: tuple[Kind, ...] = ("image", "video", "audio")

#: Accepted extensions by kind (Max API's documented video and audio formats).
EXTENSIONS: dict[Kind, tuple[str, ...]] = {
    "image": (".png", ".jpg", ".jpeg", ".webp", ".gif"),
    "video": (".mp4", ".mov", ".m4v"),
    "audio": (".mp3", ".wav"),
}
#: Content types Discord may declare for video and audio files, with their kind.
MEDIA_TYPES: dict[str, Kind] = {
    "video/mp4": "video",
    "video/quicktime": "video",
    "video/x-m4v": "video",
    "audio/mpeg": "audio",
    "audio/mp3": "audio",
    "audio/wav": "audio",
    "audio/x-wav": "audio",
    "audio/wave": "audio",
    "audio/vnd.wave": "audio",
}
#: A little slack over a limit, for rounding in the files' own headers.
SLACK_SECONDS = 0.05

TAKES_NO_MEDIA = (
    "{model} takes no video or audio files: remove them, or pick a model that does (see /models)."
)
TOO_MANY_FILES = "{model} takes at most {n} files in all; you gave {count}."
TOO_LONG: dict[Kind, str] = {
    "video": "Your videos last {seconds} s in all; {model} takes at most {limit} s of video.",
    "audio": "Your audio lasts {seconds} s in all; {model} takes at most {limit} s of audio.",
}


def kind_of_name(name: str) -> Kind | None:
    """The kind a file name's extension says, else None."""
    suffix = PurePosixPath(name).suffix.lower()
    return next((k for k in KINDS if suffix in EXTENSIONS[k]), None)


def kind_of_url(url: str) -> Kind:
    """The kind of a file already sent, by its URL's path; unknown: an image."""
    return kind_of_name(urlsplit(url).path) or "image"


def takes_media(model: Model) -> bool:
    """Whether ``model`` takes video and audio references besides images."""
    return model.images is not None and model.images.media_seconds is not None


def count_kinds(urls: Sequence[str]) -> dict[Kind, int]:
    found: dict[Kind, int] = dict.fromkeys(KINDS, 0)
    for url in urls:
        found[kind_of_url(url)] += 1
    return found


def check_references(model: Model, counts: Mapping[Kind, int]) -> None:
    """Refuse video or audio on a model that takes none, and more files than it takes in
    all (its image count is checked by :func:`bot.domain.options.check_image_count`)."""
    others = counts.get("video", 0) + counts.get("audio", 0)
    if not others:
        return
    if model.images is None or not takes_media(model):
        raise ValidationError(TAKES_NO_MEDIA, model=model.id)
    total = others + counts.get("image", 0)
    if model.images.max_items is not None and total > model.images.max_items:
        raise ValidationError(TOO_MANY_FILES, model=model.id, n=model.images.max_items, count=total)


def check_durations(model: Model, kind: Kind, seconds: Sequence[float]) -> None:
    """Refuse videos (or audio) lasting longer in all than ``model`` takes."""
    limit = model.images.media_seconds if model.images is not None else None
    if not seconds or limit is None:
        return
    total = sum(seconds)
    if total > limit + SLACK_SECONDS:
        raise ValidationError(
            TOO_LONG[kind], seconds=f"{total:.1f}", model=model.id, limit=f"{limit:g}"
        )
