"""Small, valid media files for tests: an MP4 and a WAV of a chosen duration."""

from __future__ import annotations

import struct


def mp4(seconds: float, *, moov_last: bool = False) -> bytes:
    """A minimal MP4: ftyp, mdat, and a moov whose mvhd says ``seconds``."""
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"isom", 512, b"isom")
    mvhd_body = bytes(4) + struct.pack(">IIII", 0, 0, 1000, int(seconds * 1000)) + bytes(80)
    mvhd = struct.pack(">I4s", 8 + len(mvhd_body), b"mvhd") + mvhd_body
    moov = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    mdat = struct.pack(">I4s", 8 + 100_000, b"mdat") + bytes(100_000)
    return ftyp + (mdat + moov if moov_last else moov + mdat)


def wav(seconds: float, rate: int = 8000) -> bytes:
    """A mono 8-bit WAV lasting ``seconds``."""
    data = bytes(int(seconds * rate))
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data"
    body += struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body
