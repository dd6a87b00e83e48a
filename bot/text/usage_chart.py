"""The moderators' 30-day usage chart as a PNG (spend per day against the daily budget,
jobs per day by model family), pure given the numbers: matplotlib's Agg on a white rounded
card that reads the same in Discord's dark and light themes; imported on first use."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bot.text.i18n import t
from bot.text.usage_report import money

WIDTH, HEIGHT, DPI = 1200, 720, 100
#: The card and its ink: dark text on white, strong colours (WCAG AA on white).
CARD, EDGE, INK, MUTED, GRID = "#FFFFFF", "#C9CDD3", "#1E1F22", "#4E5058", "#E3E5E8"
SPEND, BUDGET = "#4752C4", "#D83C3E"
#: One colour per model family, by the family's place in the catalogue (stable between
#: charts); families past the palette, and models no longer listed, are grey.
PALETTE = (
    "#4752C4",
    "#D6338A",
    "#E07A00",
    "#1F8B4C",
    "#0A7EA4",
    "#B8410E",
    "#7A4FD6",
    "#0F8A7E",
)
OTHER = "#80848E"
#: Where a CJK font for the zh-CN labels is looked for, after the packaged one.
SYSTEM_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)

_lock = threading.Lock()  # matplotlib's font caches are not thread-safe
_ready = False


@dataclass(frozen=True, slots=True)
class UsageSeries:
    """What the chart shows: ``days`` oldest first (``YYYY-MM-DD``), the spend of each,
    and per model family (in catalogue order) its jobs of each day."""

    days: tuple[str, ...]
    spend_usd: tuple[float, ...]
    daily_budget_usd: float | None
    families: tuple[tuple[str, tuple[int, ...]], ...] = ()
    other: tuple[int, ...] = ()  # jobs of models the catalogue no longer lists

    @property
    def jobs(self) -> int:
        return sum(sum(counts) for _, counts in self.families) + sum(self.other)


def _cjk_font() -> str | None:
    packaged = resources.files("noto_cjk_sans_otc").joinpath("NotoSansCJK-Regular.ttc")
    for candidate in (str(packaged), *SYSTEM_CJK_FONTS):
        if Path(candidate).is_file():
            return candidate
    return None


def _setup() -> None:
    """Once: the Agg-only settings, the CJK fallback font, no math in labels."""
    global _ready
    if _ready:
        return
    import matplotlib
    from matplotlib import font_manager

    # A missing glyph or weight is a log line per label, not worth one.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    families = ["DejaVu Sans"]
    try:
        font = _cjk_font()
    except ModuleNotFoundError:
        font = None
    if font is not None:
        font_manager.fontManager.addfont(font)
        names = [f.name for f in font_manager.fontManager.ttflist if f.fname == font]
        families += sorted(names, key=lambda name: not name.endswith(" SC"))[:1]
    matplotlib.rcParams.update(
        {
            "font.family": families,
            "font.size": 17,
            "text.parse_math": False,  # "$1.00 … $2.00" is money, not math
            "axes.unicode_minus": False,
        }
    )
    _ready = True


def _label_days(days: Sequence[str]) -> list[str]:
    """``MM-DD`` under every fifth day, counted back from the last."""
    last = len(days) - 1
    return [d[5:] if (last - i) % 5 == 0 else "" for i, d in enumerate(days)]


def render_usage_chart(series: UsageSeries, locale: str | None = None) -> bytes:
    """The chart as PNG bytes (``WIDTH`` × ``HEIGHT``, transparent outside the card)."""
    with _lock:
        _setup()
        return _draw(series, locale)


def _draw(series: UsageSeries, locale: str | None) -> bytes:
    # Imported here: a second's import, paid by the first chart in its thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.patch.set_alpha(0.0)
    card = FancyBboxPatch(
        (0.004, 0.006),
        0.992,
        0.988,
        boxstyle="round,pad=0,rounding_size=0.025",
        mutation_aspect=WIDTH / HEIGHT,
        transform=fig.transFigure,
        facecolor=CARD,
        edgecolor=EDGE,
        linewidth=2,
        zorder=-10,
    )
    fig.add_artist(card)
    fig.text(
        0.045,
        0.925,
        t(locale, "Atelier usage, last 30 days"),
        fontsize=26,
        fontweight="bold",
        color=INK,
    )
    summary = t(
        locale,
        "Spent: {spent} · Jobs: {jobs}",
        spent=money(sum(series.spend_usd)),
        jobs=series.jobs,
    )
    fig.text(0.955, 0.925, summary, fontsize=19, color=MUTED, ha="right")
    x = list(range(len(series.days)))
    ticks = _label_days(series.days)
    spend_ax = fig.add_axes((0.09, 0.53, 0.87, 0.30))
    jobs_ax = fig.add_axes((0.09, 0.17, 0.87, 0.27), sharex=spend_ax)
    for ax in (spend_ax, jobs_ax):
        ax.set_facecolor(CARD)
        ax.grid(axis="y", color=GRID, linewidth=1.2)
        ax.set_axisbelow(True)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.spines["bottom"].set_color(MUTED)
        ax.tick_params(colors=MUTED, labelcolor=INK, length=0, labelsize=15)
    _draw_spend(spend_ax, x, series, locale)
    _draw_jobs(jobs_ax, x, series, locale)
    jobs_ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    jobs_ax.set_xticks(x, ticks)
    spend_ax.tick_params(labelbottom=False)
    jobs_ax.set_xlim(-0.7, len(x) - 0.3)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, transparent=False, facecolor=(0, 0, 0, 0))
    return out.getvalue()


def _draw_spend(ax: Any, x: list[int], series: UsageSeries, locale: str | None) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    budget = series.daily_budget_usd
    top = max([*series.spend_usd, budget or 0.0, 0.01])
    ax.fill_between(x, series.spend_usd, color=SPEND, alpha=0.18, linewidth=0)
    (spend,) = ax.plot(x, series.spend_usd, color=SPEND, linewidth=3, marker="o", markersize=5)
    spend.set_label(t(locale, "Spend"))
    ax.set_ylim(0, top * 1.12)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: money(v) if v else "$0"))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
    title = t(locale, "Spend per day")
    ax.set_title(title, loc="left", fontsize=18, color=INK, fontweight="bold", pad=10)
    handles = [spend]
    if budget is not None:
        line = ax.axhline(budget, color=BUDGET, linewidth=2.5, linestyle=(0, (6, 4)))
        line.set_label(t(locale, "Daily budget {budget}", budget=money(budget)))
        handles.append(line)
    else:
        handles.append(ax.plot([], [], color=MUTED, label=t(locale, "No daily budget"))[0])
    ax.legend(
        handles=handles,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=2,
        frameon=False,
        fontsize=15,
        labelcolor=INK,
        handlelength=2.2,
        borderaxespad=0.2,
    )


def _draw_jobs(ax: Any, x: list[int], series: UsageSeries, locale: str | None) -> None:
    ax.set_title(
        t(locale, "Jobs per day by model family"),
        loc="left",
        fontsize=18,
        color=INK,
        fontweight="bold",
        pad=10,
    )
    bottom = [0] * len(x)
    stacks = [
        (label, PALETTE[i] if i < len(PALETTE) else OTHER, counts)
        for i, (label, counts) in enumerate(series.families)
    ]
    if series.other:
        stacks.append((t(locale, "Other"), OTHER, series.other))
    handles = []
    for label, colour, counts in stacks:
        if not any(counts):
            continue
        bars = ax.bar(x, counts, bottom=bottom, color=colour, width=0.72, label=label)
        handles.append(bars)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    if not handles:
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.text(
            0.5, 0.5, t(locale, "No jobs in these 30 days."), transform=ax.transAxes,
            ha="center", va="center", color=MUTED, fontsize=17,
        )  # fmt: skip
        return
    ax.set_ylim(0, max(bottom) * 1.15)
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncols=min(len(handles), 5),
        frameon=False,
        fontsize=15,
        labelcolor=INK,
        handlelength=1.2,
        columnspacing=1.4,
    )
