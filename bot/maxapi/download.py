"""Download one result file to disk: streamed, size-capped, type-sniffed, SSRF-guarded.

Result URLs come from Max API, so they are not fully ours: a URL could point at the
bot's own network (a private or loopback address, directly or through a redirect or
a DNS answer), be far larger than Discord accepts, or not be media at all. This module
refuses the first, stops reading past a cap (the file then becomes a link), and names
the file after what its first bytes say it is, not after what the URL claims.

Errors are typed so the caller can decide: :class:`LinkDead` (the result is gone),
:class:`TooBig` (post a link), :class:`NotMedia` and :class:`Refused` (show a link,
attach nothing), :class:`NetworkError` (transient: try again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.domain.addresses import is_public

log = logging.getLogger(__name__)

CHUNK_SIZE = 256 * 1024
SNIFF_BYTES = 64
MAX_REDIRECTS = 5
DEFAULT_TIMEOUT = 120.0
MAX_CONNECTIONS = 4
"""Downloads at once through one :func:`download_session` (``/show`` has its own)."""


@dataclass(frozen=True, slots=True)
class MediaType:
    content_type: str
    extension: str  # with the dot

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/")


PNG = MediaType("image/png", ".png")
JPEG = MediaType("image/jpeg", ".jpg")
GIF = MediaType("image/gif", ".gif")
WEBP = MediaType("image/webp", ".webp")
MP4 = MediaType("video/mp4", ".mp4")
MOV = MediaType("video/quicktime", ".mov")
WEBM = MediaType("video/webm", ".webm")


def sniff(head: bytes) -> MediaType | None:
    """The media type the first bytes of a file announce, or ``None``."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp":
        return MOV if head[8:12] == b"qt  " else MP4
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska family, WebM in practice
        return WEBM
    return None


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A result file on disk; ``extension`` and ``content_type`` come from its bytes."""

    path: Path
    size: int
    content_type: str
    extension: str
    url: str

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/")


class DownloadError(Exception):
    """Base class; ``str()`` shows the URL without its query (signed URLs carry tokens)."""

    transient: ClassVar[bool] = False

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"{display_url(url)}: {detail}")
        self.url = url
        self.detail = detail


class LinkDead(DownloadError):
    """The server says the file is gone or not ours to read (404, 403, 410, …)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(url, f"HTTP {status}")
        self.status = status


class TooBig(DownloadError):
    """Larger than the cap; ``size`` is the announced size when the server gave one."""

    def __init__(self, url: str, limit: int, size: int | None = None) -> None:
        shown = f"{size} bytes" if size is not None else "more"
        super().__init__(url, f"{shown} over the {limit}-byte cap")
        self.limit = limit
        self.size = size


class NotMedia(DownloadError):
    """The bytes are not an image or video we know how to post."""


class Refused(DownloadError):
    """Not fetched at all: a scheme other than http(s), or a private address."""


class NetworkError(DownloadError):
    """Timeouts, resets, 5xx, 429: worth trying again later."""

    transient = True


def display_url(url: str) -> str:
    """``scheme://host/path`` — no query or fragment, which may hold signatures."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def normalize_host(host: str) -> str:
    return host.strip().rstrip(".").lower().strip("[]")


async def check_destination(url: str, allowed_hosts: Collection[str], resolve: bool = True) -> None:
    """Raise :class:`Refused` unless ``url`` is http(s) to a public address (or an allowed
    host). Every address the name resolves to is checked, not just the first."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused(url, f"scheme {parts.scheme or '(none)'!r} is not http(s)")
    host = normalize_host(parts.hostname or "")
    if not host:
        raise Refused(url, "no host")
    if host in {normalize_host(h) for h in allowed_hosts}:
        return
    try:
        if not is_public(host):
            raise Refused(url, "private or loopback address")
        return  # a public IP literal
    except ValueError:
        pass  # a name, not an address
    if not resolve:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise NetworkError(url, f"cannot resolve host: {exc}") from exc
    addresses = {str(info[4][0]) for info in infos}
    if not addresses:
        raise NetworkError(url, "host has no address")
    if not all(is_public(a) for a in addresses):
        raise Refused(url, "host resolves to a private or loopback address")


class PublicOnlyResolver(AbstractResolver):
    """An aiohttp resolver that drops private addresses, except for allowed hosts.

    :func:`download` checks a name before connecting; a session built with this
    resolver (see :func:`download_session`) also closes the gap where DNS answers
    differently the second time (rebinding).
    """

    def __init__(self, allowed_hosts: Collection[str], inner: AbstractResolver | None = None):
        self._allowed = {normalize_host(h) for h in allowed_hosts}
        self._inner = inner or aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if normalize_host(host) in self._allowed:
            return results
        public = [r for r in results if is_public(r["host"])]
        if not public:
            raise OSError(f"{host} resolves only to private addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


def download_session(
    allowed_hosts: Collection[str], *, connections: int = MAX_CONNECTIONS
) -> aiohttp.ClientSession:
    """A session for result downloads whose connector refuses private addresses and
    holds at most ``connections`` at once (more downloads wait for a free one)."""
    connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(allowed_hosts), limit=connections)
    return aiohttp.ClientSession(connector=connector)


async def download(
    session: aiohttp.ClientSession,
    url: str,
    dest_dir: Path,
    stem: str,
    *,
    max_bytes: int,
    time_limit: float = DEFAULT_TIMEOUT,
    allowed_hosts: Collection[str] = frozenset(),
) -> Downloaded:
    """Stream ``url`` into ``dest_dir/<stem><ext>`` and describe it.

    Reads at most ``max_bytes`` (then :class:`TooBig`), gives up after ``time_limit``
    seconds in total (:class:`NetworkError`), and never leaves a partial file behind.
    Redirects are followed by hand so each hop passes the address check.
    """
    partial = dest_dir / f"{stem}.part"
    try:
        async with asyncio.timeout(time_limit):
            return await _download(session, url, partial, stem, max_bytes, allowed_hosts)
    except TimeoutError as exc:
        raise NetworkError(url, f"timed out after {time_limit:g} s") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise NetworkError(url, f"{type(exc).__name__}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(partial.unlink, missing_ok=True)


@contextlib.asynccontextmanager
async def get_following(
    session: aiohttp.ClientSession,
    url: str,
    allowed_hosts: Collection[str],
    headers: dict[str, str] | None = None,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """GET ``url``, following redirects by hand so each hop passes the address check; the
    final response. A redirect without a target, or too many, is a dead link."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        await check_destination(current, allowed_hosts)
        async with session.get(current, headers=headers, allow_redirects=False) as response:
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise LinkDead(url, response.status)
                current = urljoin(current, location)
                continue
            yield response
            return
    raise LinkDead(url, 310)  # too many redirects: treat as a dead link


async def _download(
    session: aiohttp.ClientSession,
    url: str,
    partial: Path,
    stem: str,
    max_bytes: int,
    allowed_hosts: Collection[str],
) -> Downloaded:
    async with get_following(session, url, allowed_hosts) as response:
        _check_status(url, response.status)
        if response.content_length is not None and response.content_length > max_bytes:
            raise TooBig(url, max_bytes, response.content_length)
        media, size = await _stream(url, response, partial, max_bytes)
    final = partial.with_name(f"{stem}{media.extension}")
    await asyncio.to_thread(partial.replace, final)
    log.debug("downloaded %s: %d bytes of %s", display_url(url), size, media.content_type)
    return Downloaded(final, size, media.content_type, media.extension, url)


def _check_status(url: str, status: int) -> None:
    if 200 <= status < 300:
        return
    if status in (408, 425, 429) or status >= 500:
        raise NetworkError(url, f"HTTP {status}")
    raise LinkDead(url, status)


async def _stream(
    url: str, response: aiohttp.ClientResponse, partial: Path, max_bytes: int
) -> tuple[MediaType, int]:
    """Copy the body to ``partial``, sniffing the first bytes before writing any."""
    head = b""
    media: MediaType | None = None
    size = 0
    handle: BinaryIO | None = None
    try:
        async for chunk in response.content.iter_chunked(CHUNK_SIZE):
            size += len(chunk)
            if size > max_bytes:
                raise TooBig(url, max_bytes)
            if handle is None:
                head += chunk
                if len(head) < SNIFF_BYTES:
                    continue
                media = _sniffed(url, head)
                handle = await asyncio.to_thread(partial.open, "wb")
                chunk, head = head, b""
            await asyncio.to_thread(handle.write, chunk)
        if handle is None:  # the whole body was shorter than SNIFF_BYTES
            media = _sniffed(url, head)
            handle = await asyncio.to_thread(partial.open, "wb")
            await asyncio.to_thread(handle.write, head)
    finally:
        if handle is not None:
            await asyncio.to_thread(handle.close)
    if media is None:  # unreachable: a handle is only opened once sniffed
        raise NotMedia(url, "no data")
    return media, size


def _sniffed(url: str, head: bytes) -> MediaType:
    media = sniff(head)
    if media is None:
        kind = "empty" if not head else f"starts with {head[:8]!r}"
        raise NotMedia(url, f"not an image or video ({kind})")
    return media
