"""Video and audio references' durations, read with a few bounded ranged requests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.domain.catalog import Catalog
from bot.services.attachment_probe import check_media_bytes
from bot.services.attachments import AttachmentError, AttachmentInfo
from tests.media_files import mp4, wav

LOCAL = frozenset({"127.0.0.1"})
FILES = {"/late.mp4": mp4(6.0, moov_last=True), "/beat.wav": wav(4.0), "/long.wav": wav(16.0)}


@pytest.fixture
async def cdn() -> AsyncIterator[str]:
    async def whole(request: web.Request) -> web.Response:
        return web.Response(body=FILES[request.path.removeprefix("/whole")])  # ignores Range

    async def gone(request: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/whole/{name}", whole)
    app.router.add_get("/gone.mp4", gone)
    for path in FILES:
        app.router.add_get(path, _ranged)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _ranged(request: web.Request) -> web.Response:
    data = FILES[request.path]
    first, last = (int(x) for x in request.headers["Range"].removeprefix("bytes=").split("-"))
    last = min(last, len(data) - 1)
    span = {"Content-Range": f"bytes {first}-{last}/{len(data)}"}
    return web.Response(status=206, body=data[first : last + 1], headers=span)


def ref(base: str, path: str) -> AttachmentInfo:
    return AttachmentInfo(path.rsplit("/", 1)[1], 1000, base + path)


async def test_durations_are_read_and_their_totals_checked(cdn: str) -> None:
    model = Catalog.load().get("seedance-2.0")
    media = [(ref(cdn, "/late.mp4"), "video"), (ref(cdn, "/beat.wav"), "audio")]
    await check_media_bytes(media, model, allowed_hosts=LOCAL)  # type: ignore[arg-type]
    with pytest.raises(AttachmentError, match=r"Your audio lasts 16\.0 s in all"):
        await check_media_bytes([(ref(cdn, "/long.wav"), "audio")], model, allowed_hosts=LOCAL)


async def test_wrong_kind_unreadable_and_dead_links_are_refused(cdn: str) -> None:
    model = Catalog.load().get("seedance-2.0")
    with pytest.raises(AttachmentError, match="is not a video file"):
        await check_media_bytes([(ref(cdn, "/beat.wav"), "video")], model, allowed_hosts=LOCAL)
    # a server that ignores Range: the moov box after 100 kB is not read
    with pytest.raises(AttachmentError, match=r"could not tell how long late\.mp4 lasts"):
        await check_media_bytes(
            [(ref(cdn, "/whole/late.mp4"), "video")], model, allowed_hosts=LOCAL
        )
    with pytest.raises(AttachmentError, match=r"could not read gone\.mp4"):
        await check_media_bytes([(ref(cdn, "/gone.mp4"), "video")], model, allowed_hosts=LOCAL)
    with pytest.raises(AttachmentError, match="could not read"):
        await check_media_bytes([(ref(cdn, "/beat.wav"), "audio")], model)  # loopback
