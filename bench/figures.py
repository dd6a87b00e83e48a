"""Figures with a target, and the one table a benchmark prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple


class Row(NamedTuple):
    """One line of the table: what, the issue's target, what was measured."""

    figure: str
    target: str
    measured: str


@dataclass(frozen=True)
class Figure:
    """A measured value and, when the issue sets one, its upper bound."""

    name: str
    value: float | None
    unit: str = ""
    target: float | None = None
    digits: int = 2
    strict: bool = False  # the target is "<" rather than "≤"
    at_least: bool = False  # the target is a lower bound ("≥")

    def row(self) -> Row:
        if self.target is None:
            target = "—"
        else:
            sign = "≥" if self.at_least else ("<" if self.strict else "≤")
            target = f"{sign} {self._fmt(self.target)}"
        measured = "n/a" if self.value is None else self._fmt(self.value)
        return Row(self.name, target, measured)

    @property
    def ratio(self) -> float | None:
        """Measured / target: below 1 meets an upper bound."""
        if self.value is None or not self.target:
            return None
        return self.value / self.target

    def _fmt(self, value: float) -> str:
        if math.isnan(value):
            return "n/a"
        if self.unit == "%":
            return f"{value:.{self.digits}f} %"
        return f"{value:,.{self.digits}f}{' ' + self.unit if self.unit else ''}"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: every figure is one real job's, nothing interpolated."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def table(figures: Sequence[Figure]) -> str:
    rows = [(*f.row(), "—" if f.ratio is None else f"{f.ratio:.2f}") for f in figures]
    return columns(("figure", "target", "measured", "ratio"), rows)


def columns(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows as left-aligned columns under a head and a rule."""
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    rule = ["-" * w for w in widths]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in (head, rule, *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)
