"""Plain-text pages describing the models, for ``/models`` (no discord imports)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.domain.catalog import Catalog, Model, describe_options
from bot.domain.units import human_duration
from bot.text.i18n import t

MODELS_PER_PAGE = 6
PRICE_UNITS = {"image": "per image", "second": "per second", "job": "per job"}
#: What a cancel costs, by ``CANCEL_REFUNDS``: said where members choose a model.
CANCEL_POLICIES = {
    "pending": (
        "Cancelling is free while a job waits in Max API's queue; "
        "once Max API has started it, a cancelled job is still charged."
    ),
    "always": "Cancelling a job is always free.",
    "never": "Cancelling is free only before a job reaches Max API; after that it is charged.",
}


@dataclass(frozen=True, slots=True)
class ModelLine:
    title: str
    body: str


def format_seconds(seconds: int) -> str:
    """A model's typical time, as an estimate: ``~15 s``, ``~3 min``."""
    return f"~{human_duration(seconds)}"


def format_price(model: Model, locale: str | None = None) -> str:
    price = model.price
    if price.by is not None:
        unit = " · ".join(f"{k} ${v:g}" for k, v in price.table.items())
    else:
        unit = f"${price.usd:g}"
    per = t(locale, PRICE_UNITS[price.per])
    suffix = "" if price.documented else t(locale, " (estimate)")
    return f"{unit} {per}{suffix}"


def describe(model: Model, locale: str | None = None, paused: str | None = None) -> ModelLine:
    """One model's entry; ``paused`` (the reason, maybe "") when this server paused it."""
    inputs = t(locale, "text")
    if model.images is not None:
        most = model.images.max if model.images.max is not None else t(locale, "several")
        inputs = (
            t(locale, "images only (1–{most})", most=most)
            if model.needs_images
            else t(locale, "text, or up to {most} images", most=most)
        )
        if model.images.media_seconds is not None:
            inputs += t(
                locale,
                ", video and audio ({seconds} s of each at most, {items} files in all; "
                "@1, @2… in the prompt: images, videos, then audio)",
                seconds=f"{model.images.media_seconds:g}",
                items=model.images.max_items,
            )
    options = "; ".join(
        f"{t(locale, name)}: {allowed}" for name, allowed in describe_options(model)
    )
    lines = [
        f"{t(locale, model.media)} · {inputs} · {format_seconds(model.typical_seconds)} · "
        f"{format_price(model, locale)}",
    ]
    if options:
        lines.append(options)
    if model.uncertain:
        lines.append(t(locale, "some details are not confirmed by the docs"))
    if paused is not None:
        lines.insert(0, paused_line(paused, locale))
        return ModelLine(f"⏸ {model.label} — `{model.id}`", "\n".join(lines))
    return ModelLine(f"{model.label} — `{model.id}`", "\n".join(lines))


def paused_line(reason: str, locale: str | None = None) -> str:
    if reason:
        return t(locale, "**Paused in this server:** {reason}", reason=reason)
    return t(locale, "**Paused in this server**")


def cancel_policy(mode: str, locale: str | None = None) -> str:
    """One sentence on what cancelling a job costs under ``CANCEL_REFUNDS``."""
    return t(locale, CANCEL_POLICIES.get(mode, CANCEL_POLICIES["pending"]))


def pages(
    catalog: Catalog,
    per_page: int = MODELS_PER_PAGE,
    locale: str | None = None,
    paused: Mapping[str, str] | None = None,
) -> list[list[ModelLine]]:
    """Enabled models grouped into pages, images first, in catalogue order; the ones
    this server ``paused`` (id -> reason) say so."""
    models = catalog.enabled("image") + catalog.enabled("video")
    paused = paused or {}
    lines = [describe(m, locale, paused.get(m.id)) for m in models]
    return [lines[i : i + per_page] for i in range(0, len(lines), per_page)] or [[]]
