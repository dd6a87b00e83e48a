"""Seedance 2.0's media rules that need the files: total video and total audio ≤ 15 s.

Max API fetches ``mediaUrls`` after the submit and ends the task in FAILURE with
``INVALID_PARAMETERS`` when a rule is broken (a file it cannot read counts as broken).
An independent reading of the headers (MP4 ``mvhd``, WAV ``fmt``/``data``, MP3 at its
first frame's bitrate), kept apart from the bot's on purpose."""

from __future__ import annotations

import struct
from typing import Any

import aiohttp

from .catalog import ModelEntry, image_field
from .validation import media_kind

LIMIT_SECONDS = 15.0
MAX_FETCH = 32 * 1024 * 1024
_MP3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


async def breaks_media_rules(entry: ModelEntry, params: dict[str, Any]) -> bool:
    """Whether the task's video or audio lasts longer in all than Max API takes."""
    field = image_field(entry)
    spec = entry.get("image_urls") or {}
    formats = spec.get("formats")
    if not field or not formats or not isinstance(params.get(field), list):
        return False
    totals = {"video": 0.0, "audio": 0.0}
    async with aiohttp.ClientSession() as session:
        for item in params[field]:
            url = item.get("url", "") if isinstance(item, dict) else str(item)
            kind = media_kind(url, formats)
            if kind not in totals:
                continue
            try:
                async with session.get(url) as response:
                    data = await response.content.read(MAX_FETCH)
                    ok = response.status == 200
            except aiohttp.ClientError:
                return True
            seconds = seconds_of(data) if ok else None
            if seconds is None:
                return True
            totals[kind] += seconds
    return any(total > LIMIT_SECONDS + 0.05 for total in totals.values())


def seconds_of(data: bytes) -> float | None:
    """The duration an MP4/MOV, WAV or (constant-bitrate) MP3 file announces."""
    at = data.find(b"mvhd")
    if data[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") and at >= 4:
        if data[at + 4] == 1:
            scale, length = struct.unpack(">IQ", data[at + 24 : at + 36])
        else:
            scale, length = struct.unpack(">II", data[at + 16 : at + 24])
        return length / scale if scale else None
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        fmt, chunk = data.find(b"fmt "), data.find(b"data")
        if fmt < 0 or chunk < 0:
            return None
        (rate,) = struct.unpack("<I", data[fmt + 16 : fmt + 20])
        (size,) = struct.unpack("<I", data[chunk + 4 : chunk + 8])
        return size / rate if rate else None
    start = 0
    if data[:3] == b"ID3":
        start = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[6:10]))
    if data[start : start + 1] == b"\xff" and len(data) > start + 2:
        kbps = _MP3_KBPS[data[start + 2] >> 4] if data[start + 2] >> 4 < 15 else 0
        return (len(data) - start) * 8 / (kbps * 1000) if kbps else None
    return None
