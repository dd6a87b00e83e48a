"""Result files: real PNGs with the prompt drawn on them, and a real MP4.

Images have the requested aspect ratio and a size that follows the resolution,
scaled down (``image_max_side``) so that tests stay fast. Any file can be padded to
a given size to exercise upload limits and stays valid: PNGs get a private
ancillary chunk (which decoders skip), MP4s get a trailing ``free`` box.
"""

from __future__ import annotations

import hashlib
import struct
import textwrap
import zlib
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .catalog import ModelEntry

# Nominal output sizes: "k" resolutions give the long side, "p" ones the short side.
_LONG_SIDE = {"1k": 1024, "2k": 2048, "4k": 3840}
_SHORT_SIDE = {"480p": 480, "720p": 720, "1080p": 1080}
_PAD_CHUNK = b"paDd"  # ancillary, private, safe-to-copy: every decoder ignores it
_MAX_PNG_CHUNK = 1 << 30
_MAX_MP4_BOX = 1 << 30


def parse_ratio(ratio: str) -> tuple[int, int]:
    width, _, height = ratio.partition(":")
    return int(width), int(height)


def output_ratio(model: str, entry: ModelEntry, params: dict[str, Any]) -> str:
    """The ratio asked for, the model's default, or (Grok lite) one guessed from the prompt."""
    ratio = params.get("ratio")
    if isinstance(ratio, str) and ":" in ratio:
        return ratio
    default = (entry.get("inputs", {}).get("ratio") or {}).get("default")
    if isinstance(default, str):
        return default
    if model.startswith("grok-imagine/"):
        prompt = str(params.get("prompt", "")).lower()
        if any(word in prompt for word in ("wide", "landscape", "panorama")):
            return "16:9"
        if any(word in prompt for word in ("tall", "portrait", "vertical")):
            return "9:16"
    return "1:1"


def image_size(
    model: str, entry: ModelEntry, params: dict[str, Any], max_side: int | None
) -> tuple[int, int]:
    """Pixel size of one result image (aspect exact to within rounding)."""
    width: float
    height: float
    if model == "grok-imagine/image-to-image":
        width, height = 1024.0, 1024.0  # fixed output, per the seed page
    else:
        rw, rh = parse_ratio(output_ratio(model, entry, params))
        resolution = str(params.get("resolution", "")).lower()
        if resolution in _SHORT_SIDE:
            short = _SHORT_SIDE[resolution]
            width, height = (short * rw / rh, short) if rw >= rh else (short, short * rh / rw)
        else:
            long = _LONG_SIDE.get(resolution, 1024)
            width, height = (long, long * rh / rw) if rw >= rh else (long * rw / rh, long)
    if max_side is not None and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = width * scale, height * scale
    return max(1, round(width)), max(1, round(height))


def _colour(seed: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(seed.encode()).digest()
    return digest[0] // 2 + 32, digest[1] // 2 + 32, digest[2] // 2 + 32


def render_png(prompt: str, caption: str, size: tuple[int, int], seed: str) -> bytes:
    """Draw the prompt (wrapped) and a caption on a colour picked from ``seed``."""
    width, height = size
    image = Image.new("RGB", size, _colour(seed))
    draw = ImageDraw.Draw(image)
    text_size = max(10, min(width, height) // 14)
    font = ImageFont.load_default(size=text_size)
    caption_size = max(8, text_size * 2 // 3)
    small = ImageFont.load_default(size=caption_size)
    while caption_size > 6 and small.getlength(caption) > width - text_size:
        caption_size -= 1
        small = ImageFont.load_default(size=caption_size)
    chars_per_line = max(8, int(width / (text_size * 0.55)))
    lines = textwrap.wrap(prompt, chars_per_line)[: max(1, (height // text_size) - 3)]
    y = text_size
    for line in lines:
        draw.text((text_size // 2, y), line, fill=(255, 255, 255), font=font)
        y += int(text_size * 1.2)
    draw.text(
        (text_size // 2, height - text_size), caption, fill=(230, 230, 230), font=small, anchor="ls"
    )
    draw.rectangle((0, 0, width - 1, height - 1), outline=(255, 255, 255))
    out = BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def pad_png(png: bytes, total: int) -> bytes:
    """Grow a PNG to exactly ``total`` bytes (when that is at least 12 bytes more)."""
    missing = total - len(png)
    if missing < 12:
        return png
    chunks = []
    while missing >= 12:
        data_len = min(missing - 12, _MAX_PNG_CHUNK)
        if 0 < missing - 12 - data_len < 12:
            data_len -= 12  # leave room for one more whole chunk
        chunks.append(_png_chunk(_PAD_CHUNK, bytes(data_len)))
        missing -= data_len + 12
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + b"".join(chunks) + png[iend:]


def pad_mp4(mp4: bytes, total: int) -> bytes:
    """Grow an MP4 to exactly ``total`` bytes with trailing ``free`` boxes."""
    missing = total - len(mp4)
    boxes = []
    while missing >= 8:
        size = min(missing, _MAX_MP4_BOX)
        if 0 < missing - size < 8:
            size -= 8
        boxes.append(struct.pack(">I", size) + b"free" + bytes(size - 8))
        missing -= size
    return mp4 + b"".join(boxes)


@cache
def sample_mp4() -> bytes:
    """The committed 2-second 128x72 H.264 clip."""
    return resources.files(__package__).joinpath("sample.mp4").read_bytes()
