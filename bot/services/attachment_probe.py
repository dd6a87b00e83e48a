"""The first bytes of a member's image attachments, read before anything is reserved.

Discord's metadata (name, declared type) is whatever the uploader's client said, so a
file named ``.png`` may hold anything. Each attachment's first 64 bytes are fetched with
a ranged request, under the same rules as result downloads (http(s) to public addresses
only, redirects checked hop by hop, the size cap), and a file whose bytes are not PNG,
JPEG, WebP or GIF is refused by name. All of it within a short budget, because the
command must still be answered within Discord's 3 seconds.

A link that cannot be read in time (or at all) is refused too, with a sentence saying
so: Max API would have to fetch the same link, and a member can attach it again at no
cost, whereas a check that lets unread files through would check nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Collection, Sequence

import aiohttp

from bot.domain.catalog import Model, ValidationError
from bot.domain.media import Kind, check_durations
from bot.domain.media_duration import FORMAT_KIND, Need, Unreadable, read_duration, sniff_format
from bot.domain.units import human_bytes
from bot.maxapi import download as dl
from bot.services.attachments import (
    KIND_NAMES,
    KINDS_TEXT,
    MAX_IMAGE_BYTES,
    MEDIA_FORMATS,
    NOT_MEDIA,
    AttachmentError,
    AttachmentInfo,
)
from bot.text.i18n import t

log = logging.getLogger(__name__)

#: Bytes read from each attachment: enough for every signature :func:`dl.sniff` knows.
PROBE_BYTES = dl.SNIFF_BYTES
#: Seconds for every attachment of one command together (the answer is due within 3 s).
PROBE_BUDGET = 2.0
IMAGE_MEDIA = frozenset({dl.PNG, dl.JPEG, dl.WEBP, dl.GIF})

NOT_IMAGE = "{name} is not an image Atelier can use (its bytes are not {kinds})."
UNREADABLE = "Atelier could not read {name} from Discord to check it. Attach it again."
_TOTAL = re.compile(r"bytes\s+\d+-\d+/(\d+)")


async def check_bytes(
    infos: Sequence[AttachmentInfo],
    *,
    allowed_hosts: Collection[str] = frozenset(),
    max_bytes: int = MAX_IMAGE_BYTES,
    budget: float = PROBE_BUDGET,
    locale: str | None = None,
) -> None:
    """Refuse the first attachment whose first bytes are not an accepted image, or that
    cannot be read within ``budget`` seconds (all together); ``allowed_hosts`` skip the
    private-address check (a local Discord in tests)."""
    if not infos:
        return
    async with dl.download_session(allowed_hosts, connections=len(infos)) as session:
        probes = [_probe(session, info, allowed_hosts, max_bytes) for info in infos]
        try:
            async with asyncio.timeout(budget):
                found = await asyncio.gather(*probes, return_exceptions=True)
        except TimeoutError:
            found = [TimeoutError()] * len(infos)
    for info, result in zip(infos, found, strict=True):
        if isinstance(result, dl.TooBig):
            raise AttachmentError(
                t(
                    locale,
                    "“{name}” is {size}; the limit is {limit}. Attach a smaller image.",
                    name=info.filename,
                    size=human_bytes(result.size or 0),
                    limit=human_bytes(max_bytes),
                )
            )
        if isinstance(result, dl.NotMedia):
            raise AttachmentError(t(locale, NOT_IMAGE, name=info.filename, kinds=KINDS_TEXT))
        if isinstance(result, BaseException):
            log.info("attachment %s unreadable: %r", dl.display_url(info.url), result)
            raise AttachmentError(t(locale, UNREADABLE, name=info.filename))


async def _probe(
    session: aiohttp.ClientSession,
    info: AttachmentInfo,
    allowed_hosts: Collection[str],
    max_bytes: int,
) -> dl.MediaType:
    """The media type the attachment's first bytes announce; raises a DownloadError."""
    url = info.url
    headers = {"Range": f"bytes=0-{PROBE_BYTES - 1}"}
    async with dl.get_following(session, url, allowed_hosts, headers) as response:
        if response.status not in (200, 206):
            raise dl.LinkDead(url, response.status)
        total = _total_size(response)
        if total is not None and total > max_bytes:
            raise dl.TooBig(url, max_bytes, total)
        head = await _head(response)
    media = dl.sniff(head)
    if media not in IMAGE_MEDIA:
        raise dl.NotMedia(url, f"starts with {head[:8]!r}")
    assert media is not None
    return media


def _total_size(response: aiohttp.ClientResponse) -> int | None:
    """The whole file's size: from ``Content-Range`` (206), else ``Content-Length``."""
    if response.status == 206:
        match = _TOTAL.search(response.headers.get("Content-Range", ""))
        return int(match.group(1)) if match else None
    return response.content_length


async def _head(response: aiohttp.ClientResponse) -> bytes:
    """Up to :data:`PROBE_BYTES` of the body (a server that ignores ``Range`` sends it
    all: the rest is never read)."""
    head = b""
    while len(head) < PROBE_BYTES:
        chunk = await response.content.read(PROBE_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


#: Bytes read per ranged request for a duration; at most :data:`MEDIA_READS` requests.
MEDIA_WINDOW = 64 * 1024
MEDIA_READS = 3
NO_DURATION = "Atelier could not tell how long {name} lasts. Save it as a standard {formats} file."


async def check_media_bytes(
    media: Sequence[tuple[AttachmentInfo, Kind]],
    model: Model,
    *,
    allowed_hosts: Collection[str] = frozenset(),
    budget: float = PROBE_BUDGET,
    locale: str | None = None,
) -> None:
    """Read each video and audio reference's duration from its header (a few ranged
    requests) and refuse files of the wrong kind, unreadable ones, and totals longer
    than ``model`` takes."""
    if not media:
        return
    async with dl.download_session(allowed_hosts, connections=len(media)) as session:
        probes = [_duration(session, info, kind, allowed_hosts) for info, kind in media]
        try:
            async with asyncio.timeout(budget):
                found = await asyncio.gather(*probes, return_exceptions=True)
        except TimeoutError:
            found = [TimeoutError()] * len(media)
    seconds: dict[Kind, list[float]] = {"video": [], "audio": []}
    for (info, kind), result in zip(media, found, strict=True):
        formats = MEDIA_FORMATS[kind]
        if isinstance(result, dl.NotMedia):
            raise AttachmentError(
                t(
                    locale,
                    NOT_MEDIA,
                    name=info.filename,
                    kind=t(locale, KIND_NAMES[kind]),
                    formats=formats,
                )
            )
        if isinstance(result, Unreadable):
            raise AttachmentError(t(locale, NO_DURATION, name=info.filename, formats=formats))
        if isinstance(result, BaseException):
            log.info("attachment %s unreadable: %r", dl.display_url(info.url), result)
            raise AttachmentError(t(locale, UNREADABLE, name=info.filename))
        seconds[kind].append(result)
    try:
        for kind, values in seconds.items():
            check_durations(model, kind, values)
    except ValidationError as exc:
        raise AttachmentError(t(locale, exc.template, **exc.fields)) from None


async def _duration(
    session: aiohttp.ClientSession,
    info: AttachmentInfo,
    kind: Kind,
    allowed_hosts: Collection[str],
) -> float:
    """Seconds the file lasts; raises NotMedia, Unreadable or a DownloadError."""
    await dl.check_destination(info.url, allowed_hosts)
    offset, fmt = 0, None
    for _ in range(MEDIA_READS):
        headers = {"Range": f"bytes={offset}-{offset + MEDIA_WINDOW - 1}"}
        async with session.get(info.url, headers=headers, allow_redirects=False) as response:
            if response.status not in (200, 206):
                raise dl.LinkDead(info.url, response.status)
            total = _total_size(response)
            if response.status == 200 and offset:
                raise Unreadable("the server ignores Range")
            chunk = await response.content.read(MEDIA_WINDOW)
        if fmt is None:
            fmt = sniff_format(chunk)
            if fmt is None or FORMAT_KIND[fmt] != kind:
                raise dl.NotMedia(info.url, f"starts with {chunk[:8]!r}")
        found = read_duration(fmt, chunk, offset, total)
        if not isinstance(found, Need):
            return found
        offset = found.offset
    raise Unreadable("header too far into the file")
