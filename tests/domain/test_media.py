"""Input kinds, counts and durations (bot.domain.media, bot.domain.media_duration)."""

from __future__ import annotations

import struct

import pytest

from bot.domain.catalog import Catalog, ValidationError
from bot.domain.media import check_durations, check_references, count_kinds, kind_of_url
from bot.domain.media_duration import Need, Unreadable, read_duration, sniff_format
from tests.media_files import mp4, wav


def test_kinds_come_from_the_urls_extension_and_unknown_is_an_image() -> None:
    urls = ["https://cdn/x/a.PNG?ex=1", "https://cdn/x/b.mov", "https://cdn/c.wav", "https://e/i"]
    assert [kind_of_url(u) for u in urls] == ["image", "video", "audio", "image"]
    assert count_kinds(urls) == {"image": 2, "video": 1, "audio": 1}


def test_only_seedance_2_takes_references_and_at_most_twelve_files(catalog: Catalog) -> None:
    check_references(catalog.get("seedance-2.0"), {"image": 9, "video": 2, "audio": 1})
    with pytest.raises(ValidationError, match="at most 12 files in all; you gave 13"):
        check_references(catalog.get("seedance-2.0-fast"), {"image": 9, "video": 2, "audio": 2})
    for model in ("seedance-1.5-pro", "veo3", "seedream-4.5"):
        with pytest.raises(ValidationError, match="takes no video or audio files"):
            check_references(catalog.get(model), {"image": 0, "video": 0, "audio": 1})
    check_references(catalog.get("veo3"), {"image": 3, "video": 0, "audio": 0})


def test_durations_add_up_per_kind(catalog: Catalog) -> None:
    model = catalog.get("seedance-2.0")
    check_durations(model, "video", [7.5, 7.5])
    with pytest.raises(
        ValidationError, match=r"last 15\.5 s in all; seedance-2.0 takes at most 15 s"
    ):
        check_durations(model, "video", [7.5, 8.0])
    with pytest.raises(ValidationError, match="of audio"):
        check_durations(model, "audio", [16.0])


def test_a_prepared_seedance_job_counts_only_images_against_nine(catalog: Catalog) -> None:
    from bot.domain.options import GenerationRequest

    urls = [f"https://cdn/{i}.png" for i in range(9)] + ["https://cdn/v.mp4", "https://cdn/s.mp3"]
    job = catalog.prepare(GenerationRequest("seedance-2.0", "@1 to @11", image_urls=urls))
    assert job.input["mediaUrls"] == urls
    with pytest.raises(ValidationError, match="takes no video or audio"):
        catalog.prepare(GenerationRequest("veo3", "x", image_urls=["https://cdn/v.mp4"]))


def test_mp4_duration_with_moov_first_or_last() -> None:
    data = mp4(4.5)
    assert sniff_format(data[:64]) == "mp4"
    assert read_duration("mp4", data[:65536], 0, len(data)) == 4.5
    late = mp4(12.0, moov_last=True)
    need = read_duration("mp4", late[:65536], 0, len(late))
    assert need == Need(100_028)
    assert read_duration("mp4", late[100_028:], 100_028, len(late)) == 12.0


def test_mp4_version_1_mvhd() -> None:
    body = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, 600, 6000) + bytes(80)
    mvhd = struct.pack(">I4s", 8 + len(body), b"mvhd") + body
    data = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    assert read_duration("mp4", data, 0, len(data)) == 10.0


def test_wav_duration_and_garbage() -> None:
    data = wav(2.5)
    assert sniff_format(data) == "wav"
    assert read_duration("wav", data[:65536], 0, len(data)) == 2.5
    assert sniff_format(b"\x89PNG\r\n\x1a\n" + bytes(60)) is None
    with pytest.raises(Unreadable):
        read_duration("wav", b"RIFF\x00\x00\x00\x00WAVE" + b"data" + bytes(4), 0, None)


def test_mp3_from_xing_frames_or_constant_bitrate() -> None:
    header = bytes([0xFF, 0xFB, 0x90, 0x00])  # MPEG-1 layer III, 128 kbps, 44.1 kHz, stereo
    xing = header + bytes(32) + b"Xing" + struct.pack(">II", 1, 383) + bytes(400)
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10)
    assert sniff_format(tag + xing) == "mp3"
    assert read_duration("mp3", tag + xing, 0, None) == pytest.approx(383 * 1152 / 44100)
    cbr = header + bytes(1000)
    assert read_duration("mp3", cbr, 0, 160_000) == pytest.approx(10.0)
    with pytest.raises(Unreadable):
        read_duration("mp3", bytes(5000), 0, 5000)
