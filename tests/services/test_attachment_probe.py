"""The first bytes of members' attachments: sniffed from a ranged read, under the address,
redirect and size rules of result downloads, within a budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.services.attachment_probe import check_bytes
from bot.services.attachments import AttachmentError, AttachmentInfo

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
LOCAL = frozenset({"127.0.0.1"})


@pytest.fixture
async def cdn() -> AsyncIterator[tuple[str, list[str | None]]]:
    ranges: list[str | None] = []

    async def whole(request: web.Request) -> web.Response:
        ranges.append(request.headers.get("Range"))
        return web.Response(body=PNG, content_type="image/png")  # ignores Range

    async def jpeg(request: web.Request) -> web.Response:
        ranges.append(request.headers.get("Range"))
        span = {"Content-Range": f"bytes 0-63/{len(JPEG)}"}
        return web.Response(status=206, body=JPEG[:64], headers=span)

    async def huge(request: web.Request) -> web.Response:
        return web.Response(
            status=206, body=PNG[:64], headers={"Content-Range": "bytes 0-63/999999"}
        )

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/whole.png")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(body=PNG)

    app = web.Application()
    for path, handler in [
        ("/whole.png", whole),
        ("/a.jpg", jpeg),
        ("/huge.png", huge),
        ("/moved.png", moved),
        ("/slow.png", slow),
    ]:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", ranges
    finally:
        await runner.cleanup()


def info(base: str, path: str) -> AttachmentInfo:
    return AttachmentInfo(path.strip("/"), 100, base + path, "image/png")


async def test_images_pass_and_each_is_read_with_a_ranged_request(
    cdn: tuple[str, list[str | None]],
) -> None:
    base, ranges = cdn
    await check_bytes(
        [info(base, "/whole.png"), info(base, "/a.jpg"), info(base, "/moved.png")],
        allowed_hosts=LOCAL,
    )
    assert ranges == ["bytes=0-63"] * 3  # the redirect's target was read once


async def test_a_file_larger_than_the_cap_is_refused_by_its_real_size(
    cdn: tuple[str, list[str | None]],
) -> None:
    base, _ = cdn
    with pytest.raises(AttachmentError, match=r"huge\.png.*the limit is"):
        await check_bytes([info(base, "/huge.png")], allowed_hosts=LOCAL, max_bytes=1000)


async def test_a_private_address_is_not_fetched(cdn: tuple[str, list[str | None]]) -> None:
    base, ranges = cdn
    with pytest.raises(AttachmentError, match=r"could not read whole\.png"):
        await check_bytes([info(base, "/whole.png")])  # 127.0.0.1, not allowed here
    assert ranges == []


async def test_a_slow_link_is_refused_within_the_budget(
    cdn: tuple[str, list[str | None]],
) -> None:
    base, _ = cdn
    started = asyncio.get_running_loop().time()
    with pytest.raises(AttachmentError, match=r"could not read slow\.png"):
        await check_bytes([info(base, "/slow.png")], allowed_hosts=LOCAL, budget=0.3)
    assert asyncio.get_running_loop().time() - started < 1
