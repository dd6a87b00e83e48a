"""Result files: real PNGs with the prompt drawn on them, and a real MP4.

Images have the requested aspect ratio and a size that follows the resolution,
scaled down (``image_max_side``) so that tests stay fast. Any file can be padded to
a given size to exercise upload limits and stays valid: PNGs get a private
ancillary chunk (which decoders skip), MP4s get a trailing ``free`` box.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import struct
import zlib
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any, TypeAlias

from PIL import Image, ImageDraw, ImageFont

from .catalog import ModelEntry

log = logging.getLogger(__name__)

# Nominal output sizes: "k" resolutions give the long side, "p" ones the short side.
_LONG_SIDE = {"1k": 1024, "2k": 2048, "4k": 3840}
_SHORT_SIDE = {"480p": 480, "720p": 720, "1080p": 1080}
_PAD_CHUNK = b"paDd"  # ancillary, private, safe-to-copy: every decoder ignores it
_MAX_PNG_CHUNK = 1 << 30
_MAX_MP4_BOX = 1 << 30

# Chinese, Japanese and Korean: radicals, kana, ideographs, Hangul, full-width forms.
_CJK = (
    "\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0003ffff"
)
_CJK_RE = re.compile(f"[{_CJK}]")
# A word is a run of non-space, non-CJK characters, or one CJK character with any
# closing punctuation after it (so that no line starts with "，").
_WORD_RE = re.compile(rf"(\s*)([{_CJK}][，。、；：？！）」』》〉】〕”’]*|[^\s{_CJK}]+)")
# CJK fonts: the simulator extra's package (face 2 is Simplified Chinese), else the system's.
_PACKAGED_CJK_FONT = ("noto_cjk_sans_otc", "NotoSansCJK-Regular.ttc", 2)
_SYSTEM_CJK_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # Debian fonts-noto-cjk
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),  # Debian fonts-wqy-microhei
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),  # Debian fonts-wqy-zenhei
    ("/System/Library/Fonts/PingFang.ttc", 0),  # macOS
    ("C:\\Windows\\Fonts\\msyh.ttc", 0),  # Windows
)
NO_CJK_FONT_NOTE = "(CJK text not drawn: no font)"

Font: TypeAlias = ImageFont.FreeTypeFont | ImageFont.ImageFont


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


@cache
def cjk_font_file() -> tuple[str, int] | None:
    """The font file (and face) used for CJK prompts: Noto Sans CJK SC, else a system font."""
    package, name, index = _PACKAGED_CJK_FONT
    with contextlib.suppress(ModuleNotFoundError):
        packaged = resources.files(package).joinpath(name)
        if packaged.is_file():
            return str(packaged), index
    for path, index in _SYSTEM_CJK_FONTS:
        if os.path.isfile(path):
            return path, index
    log.warning("no CJK font: CJK prompts are drawn as boxes (install the simulator extra)")
    return None


def needs_cjk_font(text: str) -> bool:
    return _CJK_RE.search(text) is not None


def wrap_text(text: str, font: Font, width: float, max_lines: int) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` pixels (at most ``max_lines``).

    Lines break between words and between CJK characters; an over-long word is cut.
    """
    lines: list[str] = []
    line = ""
    for match in _WORD_RE.finditer(text):
        space, word = match.groups()
        parts = [word] if font.getlength(word) <= width else list(word)
        for i, part in enumerate(parts):
            joined = f"{line} {part}" if space and line and i == 0 else line + part
            if line and font.getlength(joined) > width:
                lines.append(line)
                if len(lines) == max_lines:
                    return lines
                joined = part
            line = joined
    return [*lines, line] if line else lines


def render_png(prompt: str, caption: str, size: tuple[int, int], seed: str) -> bytes:
    """Draw the prompt (wrapped) and a caption on a colour picked from ``seed``."""
    width, height = size
    image = Image.new("RGB", size, _colour(seed))
    draw = ImageDraw.Draw(image)
    text_size = max(10, min(width, height) // 14)
    caption_size = max(8, text_size * 2 // 3)
    small = ImageFont.load_default(size=caption_size)
    while caption_size > 6 and small.getlength(caption) > width - text_size:
        caption_size -= 1
        small = ImageFont.load_default(size=caption_size)
    line_height = int(text_size * 1.2)
    max_lines = max(1, (height - 3 * text_size) // line_height)  # clear of the caption
    cjk = needs_cjk_font(prompt)
    cjk_file = cjk_font_file() if cjk else None
    font: Font
    if cjk_file is not None:
        font = ImageFont.truetype(cjk_file[0], text_size, index=cjk_file[1])
    else:
        font = ImageFont.load_default(size=text_size)
    if cjk and cjk_file is None:
        lines = wrap_text(prompt, font, width - text_size, max(1, max_lines - 1))
        lines.append(NO_CJK_FONT_NOTE)
    else:
        lines = wrap_text(prompt, font, width - text_size, max_lines)
    y = text_size
    for line in lines:
        draw.text((text_size // 2, y), line, fill=(255, 255, 255), font=font)
        y += line_height
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
