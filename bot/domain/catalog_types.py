"""What the catalogue knows about a model: its options, image inputs, modes, rules and price."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Media = Literal["image", "video"]


class ValidationError(ValueError):
    """A request Max API would refuse; ``str()`` tells the member what is allowed.

    ``template`` and ``fields`` keep the English template for translation."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message.format(**fields) if fields else message)
        self.template = message
        self.fields = fields


class CatalogError(ValueError):
    """The catalogue file is malformed (usually an operator's override)."""


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One Max API input field: a list of ``values`` or an integer range ``min``..``max``."""

    name: str
    values: tuple[Any, ...] | None = None
    min: int | None = None
    max: int | None = None
    default: Any = None  # Max API's documented default: used for prices, never sent
    assume: Any = None  # assumed for the price when left empty and the default is unknown
    adult_values: tuple[Any, ...] = ()

    @property
    def is_integer(self) -> bool:
        return self.values is None or all(isinstance(v, int) for v in self.values)

    def allowed_text(self) -> str:
        if self.values is not None:
            return ", ".join(str(v) for v in self.values)
        return f"{self.min} to {self.max}"

    def all_values(self) -> list[Any]:
        """Every allowed value, a range written out (empty when the range is open)."""
        if self.values is not None:
            return list(self.values)
        if self.min is not None and self.max is not None:
            return list(range(int(self.min), int(self.max) + 1))
        return []

    def normalise(self, raw: Any) -> Any:
        """The allowed value ``raw`` stands for (``2K`` → ``2k``, ``"8s"`` → 8), else None."""
        if self.is_integer:
            try:
                number = int(str(raw).strip().removesuffix("s"))
            except ValueError:
                return None
            if self.values is not None:
                return number if number in self.values else None
            low = self.min if self.min is not None else -math.inf
            high = self.max if self.max is not None else math.inf
            return number if low <= number <= high else None
        text = str(raw).strip().lower()
        return next((v for v in self.values or () if str(v).lower() == text), None)

    @property
    def largest(self) -> Any:
        if self.values:
            return max(self.values) if self.is_integer else None
        return self.max


@dataclass(frozen=True, slots=True)
class ImageInput:
    """The field a model takes input images in, and how many it takes."""

    field: str
    min: int = 0
    max: int | None = None
    note: str | None = None
    max_items: int | None = None  # files in all, with video and audio (Seedance 2.0)
    media_seconds: float | None = None  # video, and audio, each at most this long in all


@dataclass(frozen=True, slots=True)
class ModeSpec:
    """A mode that follows the image count (Veo: 0 → t2v, 1 → i2v, …)."""

    option: str | None
    by_images: Mapping[int, str]
    images: Mapping[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Rule:
    """When every ``when`` field has one of its values, every ``allow`` field must too.

    ``None`` among the values means "left empty"."""

    when: Mapping[str, tuple[Any, ...]]
    allow: Mapping[str, tuple[Any, ...]]
    message: str


@dataclass(frozen=True, slots=True)
class PriceSpec:
    """USD per image, second or job; ``table`` holds the unit price by the option ``by``."""

    per: Literal["image", "second", "job"]
    usd: float | None = None
    by: str | None = None
    table: Mapping[str, float] = field(default_factory=dict)
    documented: bool = False


@dataclass(frozen=True, slots=True)
class Model:
    """One Max API model: what it makes, accepts and costs, and how long it usually takes."""

    id: str
    label: str
    family: str
    media: Media
    options: Mapping[str, OptionSpec]
    price: PriceSpec
    typical_seconds: int
    max_seconds: int
    images: ImageInput | None = None
    modes: ModeSpec | None = None
    rules: tuple[Rule, ...] = ()
    refuses: Mapping[str, str] = field(default_factory=dict)
    with_images: str | None = None
    outputs: int = 1
    uncertain: bool = False
    enabled: bool = True

    @property
    def needs_images(self) -> bool:
        return self.images is not None and self.images.min > 0

    def option(self, name: str) -> OptionSpec | None:
        return self.options.get(name)
