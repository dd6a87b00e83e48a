"""Chinese, Japanese and Korean prompts are drawn with a font that has the glyphs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

from simulator import media
from simulator.media import NO_CJK_FONT_NOTE, cjk_font_file, render_png, wrap_text

SIZE = (512, 288)
TEXT_SIZE = 20  # render_png's text size for 512x288: min(512, 288) // 14
CAPTION = "seedream-4.5 · 1/1 · simulated"


@pytest.fixture(autouse=True)
def fresh_font_lookup() -> Iterator[None]:
    cjk_font_file.cache_clear()
    yield
    cjk_font_file.cache_clear()


def draw(prompt: str, seed: str = "same") -> Image.Image:
    return Image.open(io.BytesIO(render_png(prompt, CAPTION, SIZE, seed))).convert("RGB")


def ink(image: Image.Image, top: int, bottom: int) -> int:
    """How many pixels of rows ``top``..``bottom`` differ from the background."""
    band = image.crop((2, top, image.width - 2, bottom))
    background = Image.new("RGB", band.size, image.getpixel((image.width // 2, image.height // 2)))
    mask = ImageChops.difference(band, background).convert("L").point(lambda v: 255 * (v > 40))
    return mask.histogram()[255]


def first_line(image: Image.Image) -> Image.Image:
    return image.crop((0, TEXT_SIZE - 4, image.width, 2 * TEXT_SIZE + 8))


def test_different_characters_draw_different_glyphs() -> None:
    # Missing glyphs are all the same box (or nothing): two characters that draw the
    # same are not drawn at all.
    ni, hao, box = draw("你"), draw("好"), draw("\ue000")  # private use: no font has it
    assert ImageChops.difference(first_line(ni), first_line(hao)).getbbox() is not None
    assert ImageChops.difference(first_line(ni), first_line(box)).getbbox() is not None
    assert ink(ni, TEXT_SIZE - 4, 2 * TEXT_SIZE + 8) > 40
    assert ink(hao, TEXT_SIZE - 4, 2 * TEXT_SIZE + 8) > 40


def test_japanese_and_korean_too() -> None:
    font_file = cjk_font_file()
    assert font_file is not None, "the simulator extra should bring a CJK font"
    font = ImageFont.truetype(font_file[0], 40, index=font_file[1])
    glyphs = []
    for ch in "你の한":
        image = Image.new("L", (60, 60))
        ImageDraw.Draw(image).text((5, 5), ch, font=font, fill=255)
        assert image.getbbox(), ch
        glyphs.append(image.tobytes())
    assert len(set(glyphs)) == 3


def test_latin_prompts_keep_the_default_font() -> None:
    # The CJK font is only loaded for prompts that need it.
    assert not media.needs_cjk_font("a lighthouse at dusk, café, naïve — «quoted»")
    assert media.needs_cjk_font("黄昏的灯塔") and media.needs_cjk_font("ｆｕｌｌ")


def test_chinese_wraps_between_characters_within_the_width() -> None:
    font_file = cjk_font_file()
    assert font_file is not None
    font = ImageFont.truetype(font_file[0], TEXT_SIZE, index=font_file[1])
    prompt = (
        "a lighthouse at dusk, 一座灯塔在黄昏时分，海浪拍打着礁石，天空是橙红色的，远处有海鸥。"
    )
    lines = wrap_text(prompt, font, 200, max_lines=20)
    assert len(lines) > 2
    assert all(font.getlength(line) <= 200 for line in lines)
    assert "".join(lines).replace(" ", "") == prompt.replace(" ", "")
    assert not any(line[0] in "，。" for line in lines)  # punctuation stays with its word


def test_wrap_keeps_words_whole_and_stops_at_max_lines() -> None:
    font = ImageFont.load_default(size=20)
    lines = wrap_text("the quick brown fox jumps over the lazy dog " * 5, font, 150, max_lines=3)
    assert len(lines) == 3
    assert all(font.getlength(line) <= 150 for line in lines)
    assert lines[:2] == ["the quick brown", "fox jumps over"]
    long = wrap_text("x" * 200, font, 150, max_lines=50)  # an over-long word is cut
    assert "".join(long) == "x" * 200 and all(font.getlength(line) <= 150 for line in long)


def test_long_prompts_stay_clear_of_the_caption() -> None:
    image = draw("word " * 400)
    caption_top = SIZE[1] - 2 * TEXT_SIZE
    assert ink(image, caption_top, caption_top + TEXT_SIZE // 2) == 0


def test_a_system_font_when_the_package_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    packaged = cjk_font_file()
    assert packaged is not None
    system = tmp_path / "NotoSansCJK-Regular.ttc"
    system.symlink_to(packaged[0])
    monkeypatch.setattr(media, "_PACKAGED_CJK_FONT", ("no_such_font_package", "x.ttc", 0))
    monkeypatch.setattr(media, "_SYSTEM_CJK_FONTS", (("/nowhere/x.ttc", 0), (str(system), 2)))
    cjk_font_file.cache_clear()
    assert cjk_font_file() == (str(system), 2)


def test_without_any_cjk_font_the_image_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(media, "_PACKAGED_CJK_FONT", ("no_such_font_package", "x.ttc", 0))
    monkeypatch.setattr(media, "_SYSTEM_CJK_FONTS", ())
    with caplog.at_level(logging.WARNING, logger="simulator.media"):
        image = draw("你好")
        draw("再见")
    assert [r.getMessage() for r in caplog.records] == [
        "no CJK font: CJK prompts are drawn as boxes (install the simulator extra)"
    ]
    second_line = (TEXT_SIZE + int(TEXT_SIZE * 1.2), 2 * TEXT_SIZE + int(TEXT_SIZE * 1.2) + 6)
    assert ink(image, *second_line) > 100  # the note, under the prompt
    assert ink(draw("hello"), *second_line) == 0
    assert NO_CJK_FONT_NOTE == "(CJK text not drawn: no font)"
