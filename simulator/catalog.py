"""The upstream model catalogue the simulator enforces (``models.json`` beside this file).

This is an independent copy of the Max API reference, on purpose: the bot keeps its
own catalogue, and tests check the bot's against this one.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from .config import SimulatorConfig

ModelEntry = dict[str, Any]


@cache
def _packaged() -> dict[str, ModelEntry]:
    text = resources.files(__package__).joinpath("models.json").read_text(encoding="utf-8")
    return _models_only(json.loads(text))


def _models_only(raw: dict[str, Any]) -> dict[str, ModelEntry]:
    return {key: value for key, value in raw.items() if not key.startswith("_")}


def load_models(path: Path | None = None) -> dict[str, ModelEntry]:
    """Model id → entry; ``_meta`` and other underscore keys are skipped."""
    if path is None:
        return _packaged()
    return _models_only(json.loads(path.read_text(encoding="utf-8")))


def image_field(entry: ModelEntry) -> str | None:
    """The input field that carries reference images for this model, if any."""
    spec = entry.get("image_urls")
    return spec.get("field") if isinstance(spec, dict) else None


def needs_images(entry: ModelEntry) -> bool:
    """Models with only image-input kinds (``i2i``, ``i2v``) cannot run without images."""
    return not any(str(kind).startswith("t2") for kind in entry.get("kind", []))


def typical_seconds(model: str, entry: ModelEntry, config: SimulatorConfig) -> float:
    """How long a task of this model takes before ``speed`` is applied.

    A ``[low, high]`` range uses its low end (half the high end when the low end is 0),
    so that even Seedance's "2 minutes to 4 hours" stays practical to try.
    """
    if model in config.model_seconds:
        return float(config.model_seconds[model])
    typical = entry.get("typical_seconds")
    if isinstance(typical, list) and typical:
        low, high = float(typical[0]), float(typical[-1])
        return low if low > 0 else high / 2
    if isinstance(typical, int | float):
        return float(typical)
    example = entry.get("example_seconds")
    if isinstance(example, int | float) and example > 0:
        return float(example)
    if entry.get("media") == "video":
        return config.default_video_seconds
    return config.default_image_seconds
