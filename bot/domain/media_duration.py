"""How long an MP4/MOV, WAV or MP3 file lasts, from a few of its bytes (no I/O here).

The caller reads a window of the file and calls :func:`read_duration`; the answer is the
seconds, or a :class:`Need` naming the offset to read next (an MP4 whose ``moov`` box
sits after the media data; an MP3 behind a large ID3 tag). An MP3 without a Xing, Info
or VBRI header is taken as constant bitrate: its size over its bitrate, as players do."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from bot.domain.media import Kind

Format = Literal["mp4", "wav", "mp3"]
FORMAT_KIND: dict[Format, Kind] = {"mp4": "video", "wav": "audio", "mp3": "audio"}
#: Top-level boxes an MP4 or QuickTime file may start with.
MP4_FIRST = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
#: Bytes after an MP3's ID3 tag searched for its first frame (some tools pad with zeros).
MP3_SEARCH = 4096


class Unreadable(ValueError):
    """The bytes do not say how long the file lasts."""


@dataclass(frozen=True, slots=True)
class Need:
    """Read the file again from ``offset`` (a box or frame boundary) and call again."""

    offset: int


def sniff_format(head: bytes) -> Format | None:
    """The container the first bytes announce: ``mp4``, ``wav``, ``mp3`` or None."""
    if len(head) >= 8 and head[4:8] in MP4_FIRST:
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or _frame(head, 0) is not None:
        return "mp3"
    return None


def read_duration(fmt: Format, chunk: bytes, at: int, total: int | None) -> float | Need:
    """Seconds, from ``chunk`` (the file's bytes from offset ``at``; ``total`` is the
    file's size when known); raises :class:`Unreadable`."""
    if fmt == "mp4":
        return _mp4(chunk, at, total)
    if fmt == "wav":
        return _wav(chunk, total)
    return _mp3(chunk, at, total)


# -- MP4 / QuickTime: moov/mvhd ---------------------------------------------------------


def _mp4(chunk: bytes, at: int, total: int | None) -> float | Need:
    pos = 0
    while True:
        if pos + 8 > len(chunk):
            if total is not None and at + pos >= total:
                raise Unreadable("no moov box")
            return Need(at + pos)
        size, kind = struct.unpack(">I4s", chunk[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > len(chunk):
                return Need(at + pos)
            (size,) = struct.unpack(">Q", chunk[pos + 8 : pos + 16])
            header = 16
        elif size == 0:  # to the end of the file
            size = (total - at - pos) if total is not None else len(chunk) - pos
        if size < header:
            raise Unreadable(f"box {kind!r} of size {size}")
        if kind == b"moov":
            return _moov(chunk, pos + header, min(pos + size, len(chunk)), at, pos)
        pos += size


def _moov(chunk: bytes, start: int, end: int, at: int, moov: int) -> float | Need:
    """The duration in ``mvhd``, a child of the ``moov`` box that starts at ``moov``."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", chunk[pos : pos + 8])
        if kind == b"mvhd":
            if pos + 40 > len(chunk):
                break
            if chunk[pos + 8] == 1:
                timescale, duration = struct.unpack(">IQ", chunk[pos + 28 : pos + 40])
            else:
                timescale, duration = struct.unpack(">II", chunk[pos + 20 : pos + 28])
            if not timescale or not duration:
                raise Unreadable("mvhd gives no duration")
            return float(duration / timescale)
        if size < 8:
            raise Unreadable("malformed moov")
        pos += size
    if moov > 0:  # read again from the moov box itself
        return Need(at + moov)
    raise Unreadable("no mvhd near the start of moov")


# -- WAV: fmt byte rate and data size ---------------------------------------------------


def _wav(chunk: bytes, total: int | None) -> float:
    pos = 12
    byte_rate = 0
    while pos + 8 <= len(chunk):
        kind, size = struct.unpack("<4sI", chunk[pos : pos + 8])
        if kind == b"fmt " and pos + 20 <= len(chunk):
            (byte_rate,) = struct.unpack("<I", chunk[pos + 16 : pos + 20])
        elif kind == b"data":
            if not byte_rate:
                raise Unreadable("no fmt chunk before data")
            if size in (0, 0xFFFFFFFF) and total is not None:  # a streamed file
                size = total - pos - 8
            return float(size / byte_rate)
        pos += 8 + size + (size & 1)
    raise Unreadable("no data chunk in the first bytes")


# -- MP3: Xing/Info/VBRI frame count, else size over bitrate ----------------------------

_BITRATES = {
    (3, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (3, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (3, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 1): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True, slots=True)
class _Frame:
    version: int  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    layer: int  # 3: layer I, 2: layer II, 1: layer III
    kbps: int
    rate: int
    mono: bool

    @property
    def samples(self) -> int:
        if self.layer == 3:
            return 384
        return 576 if self.layer == 1 and self.version != 3 else 1152


def _frame(data: bytes, pos: int) -> _Frame | None:
    """The MPEG audio frame header at ``pos``, if there is a valid one."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (data[pos + 1] >> 3) & 3, (data[pos + 1] >> 1) & 3
    bitrate, rate = data[pos + 2] >> 4, (data[pos + 2] >> 2) & 3
    if version == 1 or layer == 0 or bitrate in (0, 15) or rate == 3:
        return None
    kbps = _BITRATES[(3 if version == 3 else 2, layer)][bitrate]
    return _Frame(version, layer, kbps, _RATES[version][rate], (data[pos + 3] >> 6) == 3)


def _mp3(chunk: bytes, at: int, total: int | None) -> float | Need:
    pos = 0
    if at == 0 and chunk[:3] == b"ID3" and len(chunk) >= 10:
        size = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(chunk[6:10]))
        size += 10 if chunk[5] & 0x10 else 0
        if size + 4 > len(chunk):
            return Need(size)
        pos = size
    end = min(len(chunk), pos + MP3_SEARCH)
    start = next((i for i in range(pos, end) if _frame(chunk, i) is not None), None)
    if start is None:
        raise Unreadable("no MPEG audio frame")
    frame = _frame(chunk, start)
    assert frame is not None
    if (frames := _vbr_frames(chunk, start, frame)) is not None:
        return frames * frame.samples / frame.rate
    if total is None:
        raise Unreadable("no size for a constant-bitrate estimate")
    return (total - at - start) * 8 / (frame.kbps * 1000)


def _vbr_frames(chunk: bytes, start: int, frame: _Frame) -> int | None:
    """The frame count a Xing/Info or VBRI header in the first frame gives."""
    side = (17 if frame.mono else 32) if frame.version == 3 else (9 if frame.mono else 17)
    xing = start + 4 + side
    if chunk[xing : xing + 4] in (b"Xing", b"Info") and len(chunk) >= xing + 12:
        (flags,) = struct.unpack(">I", chunk[xing + 4 : xing + 8])
        if flags & 1:
            return int(struct.unpack(">I", chunk[xing + 8 : xing + 12])[0]) or None
    vbri = start + 4 + 32
    if chunk[vbri : vbri + 4] == b"VBRI" and len(chunk) >= vbri + 18:
        return int(struct.unpack(">I", chunk[vbri + 14 : vbri + 18])[0]) or None
    return None
