"""The committed sample MP4 is a structurally sound H.264 file (and the builder makes one)."""

from __future__ import annotations

import struct

import pytest
from make_sample_mp4 import FRAMES, HEIGHT, WIDTH, build

from simulator.media import sample_mp4

# container box → bytes of its own fields before its child boxes
CONTAINERS = {
    b"moov": 0,
    b"trak": 0,
    b"mdia": 0,
    b"minf": 0,
    b"stbl": 0,
    b"dinf": 0,
    b"stsd": 8,  # version/flags + entry_count
    b"avc1": 78,  # VisualSampleEntry fields
}


def boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[bytes, tuple[int, int]]:
    """Box type → (payload start, payload end) for every box, containers walked into."""
    found: dict[bytes, tuple[int, int]] = {}
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        assert size >= 8 and pos + size <= end, (kind, size)
        found.setdefault(kind, (pos + 8, pos + size))
        if kind in CONTAINERS:
            inner = boxes(data, pos + 8 + CONTAINERS[kind], pos + size)
            found.update({k: v for k, v in inner.items() if k not in found})
        pos += size
    assert pos == end
    return found


def check_mp4(data: bytes) -> None:
    assert data[4:12] == b"ftypisom"
    found = boxes(data)
    expected = b"ftyp moov mvhd trak tkhd mdhd hdlr stsd avc1 avcC stts stss stsc stsz stco mdat"
    for kind in expected.split():
        assert kind in found, kind

    tkhd_start, _ = found[b"tkhd"]
    width, height = struct.unpack(">II", data[tkhd_start + 76 : tkhd_start + 84])
    assert (width >> 16, height >> 16) == (WIDTH, HEIGHT)
    hdlr_start, _ = found[b"hdlr"]
    assert data[hdlr_start + 8 : hdlr_start + 12] == b"vide"

    stsz_start, _ = found[b"stsz"]
    _, _, count = struct.unpack(">III", data[stsz_start : stsz_start + 12])
    assert count == FRAMES
    sizes = struct.unpack(f">{count}I", data[stsz_start + 12 : stsz_start + 12 + 4 * count])
    stco_start, _ = found[b"stco"]
    _, _, offset = struct.unpack(">III", data[stco_start : stco_start + 12])
    mdat_start, mdat_end = found[b"mdat"]
    assert offset == mdat_start and sum(sizes) == mdat_end - mdat_start

    # every sample is one length-prefixed NAL: an IDR slice, then non-IDR slices
    pos, types = offset, []
    for size in sizes:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        assert length == size - 4
        types.append(data[pos + 4] & 0x1F)
        pos += size
    assert types == [5] + [1] * (FRAMES - 1)

    avcc_start, _ = found[b"avcC"]
    assert data[avcc_start] == 1 and data[avcc_start + 1] == 66  # version 1, Baseline
    (sps_len,) = struct.unpack(">H", data[avcc_start + 6 : avcc_start + 8])
    assert data[avcc_start + 8] & 0x1F == 7  # SPS
    assert data[avcc_start + 8 + sps_len + 3] & 0x1F == 8  # PPS


def test_committed_sample_is_sound() -> None:
    data = sample_mp4()
    assert len(data) < 20_000
    check_mp4(data)


def test_builder_output_is_sound() -> None:
    pytest.importorskip("PIL")
    check_mp4(build())
