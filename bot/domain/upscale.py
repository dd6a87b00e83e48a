"""Upscale: the highest resolution an image model takes, and whether it beats a job's.

Resolutions are ordered as the catalogue lists them (1k < 2k < 4k, 720p < 1080p)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.catalog import Catalog, Model, ValidationError


def image_model(catalog: Catalog, model_id: str) -> Model | None:
    """The model an image→image job of ``model_id`` runs (its image variant), else None."""
    try:
        model = catalog.get(model_id)
    except ValidationError:
        return None
    if model.with_images:
        try:
            model = catalog.get(model.with_images)
        except ValidationError:
            return model if model.images is not None else None
    return model if model.media == "image" and model.images is not None else None


def used_resolution(model: Model, options: Mapping[str, Any]) -> Any:
    """The resolution a job ran at: the chosen one, else the model's default, else its lowest."""
    spec = model.option("resolution")
    if spec is None or not spec.values:
        return None
    chosen = spec.normalise(options["resolution"]) if options.get("resolution") else None
    if chosen is not None:
        return chosen
    for fallback in (spec.default, spec.assume):
        if fallback is not None and (value := spec.normalise(fallback)) is not None:
            return value
    return spec.values[0]


def upscale_target(
    catalog: Catalog, model_id: str, options: Mapping[str, Any], media: str | None
) -> str | None:
    """The resolution an Upscale of this image job asks for, or None when there is none higher."""
    if media != "image":
        return None
    real = image_model(catalog, model_id)
    if real is None:  # unknown, disabled, or no image form
        return None
    base = catalog.get(model_id)  # enabled: image_model found it
    spec = real.option("resolution")
    if spec is None or not spec.values:
        return None
    used = used_resolution(base, options)
    if used is None:
        used = used_resolution(real, options)
    order = [str(v).lower() for v in spec.values]
    if str(used).lower() not in order:
        return None
    highest = spec.values[-1]
    return str(highest) if order.index(str(used).lower()) < len(order) - 1 else None
