"""The 30-day usage chart: a PNG of the promised size, a white rounded card that reads
the same over Discord's dark and light themes, the series' colours, both locales."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from bot.text.usage_chart import (
    BUDGET,
    HEIGHT,
    PALETTE,
    SPEND,
    WIDTH,
    UsageSeries,
    render_usage_chart,
)

DARK, LIGHT = "#313338", "#ffffff"  # Discord's dark and light message backgrounds
DAYS = tuple((date(2026, 11, 6) + timedelta(days=n)).isoformat() for n in range(30))


def series(budget: float | None = 20.0, jobs: bool = True) -> UsageSeries:
    spend = tuple(round(0.5 + (n * 7 % 13), 2) for n in range(30))
    seedream = tuple((n % 4) if jobs else 0 for n in range(30))
    veo = tuple((n % 3 == 0) * 2 if jobs else 0 for n in range(30))
    return UsageSeries(
        DAYS,
        spend,
        budget,
        (("Seedream", seedream), ("Nano Banana", (0,) * 30), ("Veo 3", veo)),
        (0,) * 30,
    )


def image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGBA")


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def has_colour(img: Image.Image, colour: str, tolerance: int = 12, at_least: int = 50) -> bool:
    """Whether at least ``at_least`` pixels are within ``tolerance`` of ``colour``."""
    r, g, b = rgb(colour)
    count = 0
    for pr, pg, pb, pa in img.get_flattened_data():
        if pa > 200 and abs(pr - r) + abs(pg - g) + abs(pb - b) <= tolerance:
            count += 1
            if count >= at_least:
                return True
    return False


def over(img: Image.Image, surround: str) -> Image.Image:
    """The chart as Discord shows it: over the theme's background."""
    canvas = Image.new("RGBA", (img.width + 40, img.height + 40), surround)
    canvas.alpha_composite(img, (20, 20))
    return canvas


def test_a_png_of_the_promised_size_on_a_rounded_card() -> None:
    png = render_usage_chart(series())
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    img = image(png)
    assert img.size == (WIDTH, HEIGHT)
    # Outside the rounded corners the theme shows through; the card itself is opaque.
    assert img.getpixel((1, 1))[3] == 0
    assert img.getpixel((WIDTH // 2, HEIGHT // 2))[3] == 255
    assert len(img.getcolors(maxcolors=1 << 16) or []) > 200  # lines, bars, text, not a blank


def test_the_series_are_drawn_in_their_colours() -> None:
    img = image(render_usage_chart(series()))
    assert has_colour(img, SPEND)  # the spend line
    assert has_colour(img, BUDGET)  # the daily budget line
    assert has_colour(img, PALETTE[0])  # Seedream's bars (first family)
    assert has_colour(img, PALETTE[2])  # Veo 3's (third)
    assert not has_colour(img, PALETTE[1])  # Nano Banana had no job: no bar, no legend


def test_no_budget_and_no_jobs_draw_neither_line_nor_bars() -> None:
    img = image(render_usage_chart(series(budget=None, jobs=False)))
    assert img.size == (WIDTH, HEIGHT)
    assert has_colour(img, SPEND)
    assert not has_colour(img, BUDGET)
    assert not any(has_colour(img, colour) for colour in PALETTE[1:3])


def luminance(pixel: tuple[int, ...]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = pixel[:3]
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_it_reads_the_same_in_the_dark_and_the_light_theme(locale: str, tmp_path: Path) -> None:
    """The card is its own background: over either theme the chart inside is the same
    picture, its ink is dark on white (contrast ≥ 7:1, WCAG AAA), and its edge stands
    out from the surround. (The composites are saved to look at.)"""
    img = image(render_usage_chart(series(), locale))
    shown = {name: over(img, surround) for name, surround in (("dark", DARK), ("light", LIGHT))}
    for name, picture in shown.items():
        picture.convert("RGB").save(tmp_path / f"usage-chart-{locale}-{name}.png")
    inside = (60, 60, WIDTH - 20, HEIGHT - 20)
    assert (
        ImageChops.difference(shown["dark"].crop(inside), shown["light"].crop(inside)).getbbox()
        is None
    )
    card = img.getpixel((WIDTH // 2, 30))
    ink = min(img.crop((40, 20, 700, 90)).get_flattened_data(), key=luminance)  # the title
    assert contrast(card, ink) >= 7
    top = next(y for y in range(HEIGHT) if img.getpixel((WIDTH // 2, y))[3] == 255)
    edge = img.getpixel((WIDTH // 2, top + 1))  # the card's border, inside its antialiasing
    for surround in (DARK, LIGHT):
        assert max(contrast(edge, rgb(surround)), contrast(card, rgb(surround))) >= 1.5


def test_locales_differ_only_in_their_words() -> None:
    english = render_usage_chart(series(), "en-US")
    chinese = render_usage_chart(series(), "zh-CN")
    assert english != chinese
    assert image(english).size == image(chinese).size
