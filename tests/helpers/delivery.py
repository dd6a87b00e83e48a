"""Helpers for download and delivery tests: a result-file server on 127.0.0.1 (bytes,
chunked streams, redirects, status codes, stalls; requests counted per path) and a job
brought to ``succeeded`` in the store."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.store import Store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff\xe0"
GIF_MAGIC = b"GIF89a"
MP4_HEAD = b"\x00\x00\x00\x18ftypisom"
MOV_HEAD = b"\x00\x00\x00\x14ftypqt  "
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


def webp_head() -> bytes:
    return b"RIFF\x00\x10\x00\x00WEBPVP8 "


def media_bytes(head: bytes, size: int) -> bytes:
    """``size`` bytes that start like a real file of that type; the rest is noise."""
    return (head + os.urandom(max(0, size - len(head))))[:size]


@dataclass
class Entry:
    data: bytes = b""
    status: int = 200
    chunked: bool = False  # stream without Content-Length
    location: str | None = None
    stall: float = 0.0


class ResultServer:
    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.hits: Counter[str] = Counter()
        self.base = ""
        self._runner: web.AppRunner | None = None

    def add(self, path: str, data: bytes = b"", **options: object) -> str:
        """Register ``/path`` and return its full URL."""
        key = "/" + path.lstrip("/").split("?", 1)[0]  # a query is part of the URL only
        self.entries[key] = Entry(data, **options)  # type: ignore[arg-type]
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        entry = self.entries.get(request.path)
        if entry is None:
            return web.Response(status=404, text="no such file")
        if entry.stall:
            await asyncio.sleep(entry.stall)
        if entry.location is not None:
            return web.Response(status=302, headers={"Location": entry.location})
        if entry.status != 200:
            return web.Response(status=entry.status, text="error")
        if not entry.chunked:
            return web.Response(body=entry.data, content_type="application/octet-stream")
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(entry.data), 64 * 1024):
            await response.write(entry.data[start : start + 64 * 1024])
        await response.write_eof()
        return response

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@asynccontextmanager
async def result_server() -> AsyncIterator[ResultServer]:
    server = ResultServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def succeeded_job(
    store: Store,
    urls: list[str],
    *,
    channel_id: int,
    user_id: int = 1234,
    guild_id: int | None = None,
    prompt: str = "a lighthouse at dusk",
    media: str = "image",
    expires_in: float = 7 * 24 * 3600,
) -> Job:
    """A job that went the whole way to ``succeeded`` through the store, as the poller
    would leave it: result URLs recorded and due for delivery now."""
    job = await store.create_job(
        {
            "guild_id": guild_id,
            "channel_id": channel_id,
            "user_id": user_id,
            "media": media,
            "model": "seedream-4.5",
            "prompt": prompt,
            "input": {"prompt": prompt},
            "price_usd": 0.03,
        }
    )
    await store.transition(job.id, JobState.ACCEPTED, JobState.SUBMITTING, "submit")
    await store.transition(
        job.id, JobState.SUBMITTING, JobState.QUEUED, "submitted", task_id=f"task-{job.id}"
    )
    now = store.clock()
    moved = await store.transition(
        job.id,
        JobState.QUEUED,
        JobState.SUCCEEDED,
        "upstream success",
        result_kind=media,
        result_urls=urls,
        result_expires_at=now + expires_in,
        upstream_done_at=now,
        next_delivery_at=now,
    )
    assert moved is not None
    return moved
