"""bot.maxapi.download against a local file server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.domain.addresses import is_public
from bot.maxapi import download as dl
from tests.helpers.delivery import (
    GIF_MAGIC,
    JPEG_MAGIC,
    MOV_HEAD,
    MP4_HEAD,
    PNG_MAGIC,
    WEBM_MAGIC,
    ResultServer,
    media_bytes,
    result_server,
    webp_head,
)

LOCAL = frozenset({"127.0.0.1"})


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


@pytest.fixture
async def server() -> AsyncIterator[ResultServer]:
    async with result_server() as s:
        yield s


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    allowed: frozenset[str] = LOCAL,
    time_limit: float = 10.0,
) -> dl.Downloaded:
    return await dl.download(
        session,
        url,
        dest,
        "result-1",
        max_bytes=max_bytes,
        time_limit=time_limit,
        allowed_hosts=allowed,
    )


@pytest.mark.parametrize(
    ("head", "content_type", "extension"),
    [
        (PNG_MAGIC, "image/png", ".png"),
        (JPEG_MAGIC, "image/jpeg", ".jpg"),
        (GIF_MAGIC, "image/gif", ".gif"),
        (webp_head(), "image/webp", ".webp"),
        (MP4_HEAD, "video/mp4", ".mp4"),
        (MOV_HEAD, "video/quicktime", ".mov"),
        (WEBM_MAGIC, "video/webm", ".webm"),
    ],
)
def test_sniff_known_types(head: bytes, content_type: str, extension: str) -> None:
    media = dl.sniff(media_bytes(head, 64))
    assert media is not None
    assert (media.content_type, media.extension) == (content_type, extension)


@pytest.mark.parametrize("head", [b"", b"<html><body>", b"%PDF-1.7", b"RIFF\0\0\0\0WAVE"])
def test_sniff_unknown(head: bytes) -> None:
    assert dl.sniff(head) is None


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.10", False),
        ("172.16.5.4", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:8.8.8.8", True),
        ("224.0.0.1", False),
        # IPv6 that carries an IPv4 address: judged by the IPv4 address.
        ("64:ff9b::127.0.0.1", False),  # NAT64
        ("64:ff9b::169.254.169.254", False),
        ("64:ff9b::10.0.0.1", False),
        ("64:ff9b::8.8.8.8", True),
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 of 169.254.169.254
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("::127.0.0.1", False),  # IPv4-compatible
        ("::192.168.1.1", False),
        ("::8.8.8.8", True),
        ("::ffff:0:127.0.0.1", False),  # IPv4-translated
        ("::ffff:0:8.8.8.8", True),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("64:ff9b:1::a00:1", False),  # NAT64 local-use
        ("fec0::1", False),  # site-local
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(address) is public


async def test_downloads_exact_bytes_named_by_sniffed_type(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    data = media_bytes(PNG_MAGIC, 300_000)
    url = server.add("out/picture.jpg?sig=abc", data)  # the URL lies about the type
    got = await fetch(session, url, tmp_path)
    assert got.path == tmp_path / "result-1.png"
    assert got.path.read_bytes() == data
    assert (got.size, got.content_type, got.extension, got.url) == (
        len(data),
        "image/png",
        ".png",
        url,
    )
    assert listing(tmp_path) == ["result-1.png"]


async def test_streamed_body_without_length(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    data = media_bytes(MP4_HEAD, 700_000)
    got = await fetch(session, server.add("v.bin", data, chunked=True), tmp_path)
    assert got.path.read_bytes() == data
    assert got.extension == ".mp4"


async def test_tiny_file_shorter_than_sniff_window(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    data = media_bytes(GIF_MAGIC, 20)
    got = await fetch(session, server.add("t.gif", data), tmp_path)
    assert got.path.read_bytes() == data


async def test_loopback_refused_unless_allowed(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = server.add("a.png", media_bytes(PNG_MAGIC, 100))
    with pytest.raises(dl.Refused):
        await fetch(session, url, tmp_path, allowed=frozenset())
    assert server.hits["/a.png"] == 0  # refused before connecting


async def test_name_resolving_to_loopback_refused(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server.add("a.png", media_bytes(PNG_MAGIC, 100))
    url = server.url("a.png").replace("127.0.0.1", "localhost")
    with pytest.raises(dl.Refused):
        await fetch(session, url, tmp_path)  # only 127.0.0.1 is allowed, by name
    assert server.hits["/a.png"] == 0


async def test_redirect_to_private_host_refused(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server.add("secret.png", media_bytes(PNG_MAGIC, 100))
    hop = server.url("secret.png").replace("127.0.0.1", "localhost")
    url = server.add("redirect", location=hop)
    with pytest.raises(dl.Refused):
        await fetch(session, url, tmp_path)
    assert server.hits["/redirect"] == 1
    assert server.hits["/secret.png"] == 0


async def test_redirect_followed_when_allowed(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    data = media_bytes(JPEG_MAGIC, 1000)
    target = server.add("real.jpg", data)
    got = await fetch(session, server.add("go", location=target), tmp_path)
    assert got.path.read_bytes() == data
    assert got.url == server.url("go")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x.png", "file:///etc/passwd", "/relative"])
async def test_non_http_refused(url: str, session: aiohttp.ClientSession, tmp_path: Path) -> None:
    with pytest.raises(dl.Refused):
        await fetch(session, url, tmp_path)


@pytest.mark.parametrize("chunked", [False, True])
async def test_size_cap(
    chunked: bool, server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    data = media_bytes(PNG_MAGIC, 2_000_000)
    url = server.add("big.png", data, chunked=chunked)
    with pytest.raises(dl.TooBig) as caught:
        await fetch(session, url, tmp_path, max_bytes=1_000_000)
    assert caught.value.size == (None if chunked else len(data))
    assert listing(tmp_path) == []  # no partial file left


async def test_gzip_body_is_capped_after_decompression(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # 200 MiB of PNG inflating from about 200 KB: the cap counts what comes out of gzip,
    # so reading stops near the cap and memory stays small (measured, not timed).
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1024 * 1024)
    bomb = packer.compress(PNG_MAGIC) + b"".join(packer.compress(block) for _ in range(200))
    bomb += packer.flush()

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/bomb.png", handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        tracemalloc.start()
        try:
            with pytest.raises(dl.TooBig):
                await fetch(session, str(server.make_url("/bomb.png")), tmp_path, max_bytes=10**6)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        await server.close()
    assert peak < 16 * 1024 * 1024, f"{peak} bytes held for a 200 MiB body"
    assert listing(tmp_path) == []


async def test_exactly_at_cap_is_fine(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    data = media_bytes(PNG_MAGIC, 5000)
    got = await fetch(session, server.add("x", data, chunked=True), tmp_path, max_bytes=5000)
    assert got.size == 5000


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, dl.LinkDead),
        (403, dl.LinkDead),
        (410, dl.LinkDead),
        (500, dl.NetworkError),
        (503, dl.NetworkError),
        (429, dl.NetworkError),
    ],
)
async def test_status_codes(
    status: int,
    error: type[dl.DownloadError],
    server: ResultServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    url = server.add("x.png", status=status)
    with pytest.raises(error) as caught:
        await fetch(session, url, tmp_path)
    assert caught.value.transient is (error is dl.NetworkError)


async def test_unregistered_path_is_dead(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with pytest.raises(dl.LinkDead):
        await fetch(session, server.url("missing.png"), tmp_path)


async def test_not_media(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = server.add("page.png", b"<html><body>Access denied</body></html>" * 10)
    with pytest.raises(dl.NotMedia):
        await fetch(session, url, tmp_path)
    assert listing(tmp_path) == []


async def test_total_time_limit(
    server: ResultServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    url = server.add("slow.png", media_bytes(PNG_MAGIC, 100), stall=5.0)
    with pytest.raises(dl.NetworkError, match="timed out"):
        await fetch(session, url, tmp_path, time_limit=0.3)
    assert listing(tmp_path) == []


async def test_connection_refused_is_transient(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with result_server() as gone:
        url = gone.url("x.png")
    with pytest.raises(dl.NetworkError):
        await fetch(session, url, tmp_path)


async def test_download_session_bounds_downloads_at_once(tmp_path: Path) -> None:
    # Each answer is held until more than the bound are in flight (never, with the
    # bound) or a short wait passes: the count proves the bound, not the clock.
    png = media_bytes(PNG_MAGIC, 1000)
    in_flight = peak = 0
    crowded = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight > dl.MAX_CONNECTIONS:
            crowded.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(crowded.wait(), 0.3)
        in_flight -= 1
        return web.Response(body=png)

    app = web.Application()
    app.router.add_get("/{name}", handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    session = dl.download_session(LOCAL)
    try:
        got = await asyncio.gather(
            *(
                dl.download(
                    session,
                    str(server.make_url(f"/{i}.png")),
                    tmp_path,
                    f"result-{i}",
                    max_bytes=10_000,
                    allowed_hosts=LOCAL,
                )
                for i in range(3 * dl.MAX_CONNECTIONS)
            )
        )
    finally:
        await session.close()
        await server.close()
    assert len(got) == 3 * dl.MAX_CONNECTIONS
    assert 1 <= peak <= dl.MAX_CONNECTIONS


def test_errors_hide_query_strings() -> None:
    exc = dl.LinkDead("https://cdn.example.com/a.png?X-Signature=secret123", 403)
    assert "secret123" not in str(exc)
    assert "cdn.example.com/a.png" in str(exc)


class _FixedResolver(dl.AbstractResolver):
    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dl.ResolveResult]:
        return [
            {
                "hostname": host,
                "host": self.address,
                "port": port,
                "family": 2,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        pass


async def test_resolver_drops_private_answers() -> None:
    rebinding = dl.PublicOnlyResolver(frozenset(), inner=_FixedResolver("10.0.0.5"))
    with pytest.raises(OSError, match="private"):
        await rebinding.resolve("cdn.example.com", 443)
    allowed = dl.PublicOnlyResolver({"sim.local"}, inner=_FixedResolver("127.0.0.1"))
    assert (await allowed.resolve("sim.local", 80))[0]["host"] == "127.0.0.1"
    public = dl.PublicOnlyResolver(frozenset(), inner=_FixedResolver("93.184.216.34"))
    assert (await public.resolve("example.com", 443))[0]["host"] == "93.184.216.34"
    nat64 = dl.PublicOnlyResolver(frozenset(), inner=_FixedResolver("64:ff9b::a9fe:a9fe"))
    with pytest.raises(OSError, match="private"):
        await nat64.resolve("cdn.example.com", 443)


@pytest.mark.parametrize(
    "host", ["[64:ff9b::7f00:1]", "[2002:7f00:1::1]", "[::7f00:1]", "[::ffff:0:7f00:1]"]
)
async def test_ipv6_wrapping_loopback_refused(host: str) -> None:
    # The address check alone: a regression must fail here, not try to connect.
    with pytest.raises(dl.Refused, match="private"):
        await dl.check_destination(f"http://{host}:8080/a.png", frozenset())
