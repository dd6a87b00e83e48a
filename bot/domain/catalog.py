"""The model catalogue: what each Max API model accepts, costs and usually takes.

The facts live in bot/data/catalog.json; an operator's file (CATALOG_PATH) is merged over it."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from bot.domain.catalog_types import (
    CatalogError,
    ImageInput,
    Media,
    Model,
    ModeSpec,
    OptionSpec,
    PriceSpec,
    Rule,
    ValidationError,
)
from bot.domain.options import (
    OPTION_FIELDS,
    GenerationRequest,
    PreparedJob,
    describe_options,
    prepare_job,
)

#: The names other modules import from here; they live in catalog_types.py and options.py.
__all__ = [
    "OPTION_FIELDS",
    "Catalog",
    "CatalogError",
    "GenerationRequest",
    "Media",
    "Model",
    "PreparedJob",
    "ValidationError",
    "describe_options",
]


class Catalog:
    """All known models, keyed by Max API model id."""

    def __init__(
        self,
        models: Mapping[str, Model],
        *,
        families: Mapping[str, Mapping[str, str]] | None = None,
        prompt_max_chars: int = 4000,
        default_image_model: str | None = None,
        default_video_model: str | None = None,
    ) -> None:
        self._models = dict(models)
        self.families = dict(families or {})
        self.prompt_max_chars = prompt_max_chars
        self.default_image_model = default_image_model
        self.default_video_model = default_video_model

    @classmethod
    def load(cls, override: Path | None = None) -> Catalog:
        """The built-in catalogue, with an operator's override file merged over it."""
        text = resources.files("bot").joinpath("data/catalog.json").read_text("utf-8")
        doc = json.loads(text)
        if override is not None:
            try:
                extra = json.loads(override.read_text("utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise CatalogError(f"cannot read the catalogue override {override}: {exc}") from exc
            doc = merge_documents(doc, extra)
        return cls.from_document(doc)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Catalog:
        """A catalogue from parsed JSON; raises CatalogError when it is malformed."""
        raw_models = doc.get("models")
        if not isinstance(raw_models, Mapping) or not raw_models:
            raise CatalogError("the catalogue has no 'models' object")
        models: dict[str, Model] = {}
        for model_id in raw_models:
            entry = _resolve_extends(raw_models, model_id)
            try:
                models[model_id] = _parse_model(model_id, entry)
            except (KeyError, TypeError, ValueError) as exc:
                raise CatalogError(f"model {model_id!r} in the catalogue: {exc}") from exc
        for model in models.values():
            if model.with_images and model.with_images not in models:
                raise CatalogError(f"model {model.id!r}: with_images names unknown model")
        defaults = doc.get("defaults", {})
        return cls(
            models,
            families=doc.get("families", {}),
            prompt_max_chars=int(defaults.get("prompt_max_chars", 4000)),
            default_image_model=defaults.get("image_model"),
            default_video_model=defaults.get("video_model"),
        )

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models

    def __len__(self) -> int:
        return len(self._models)

    def all(self) -> list[Model]:
        """Every model, including disabled ones."""
        return list(self._models.values())

    def enabled(self, media: Media | None = None) -> list[Model]:
        return [
            m for m in self._models.values() if m.enabled and (media is None or m.media == media)
        ]

    def values_taken(self, key: str, typed: str = "", limit: int = 25) -> list[str]:
        """Every listed value some enabled model takes for option ``key`` (``ratio``,
        ``resolution``), in catalogue order, containing ``typed``; at most ``limit``."""
        seen: dict[str, None] = {}
        for model in self.enabled():
            spec = model.option(OPTION_FIELDS[key])
            if spec is not None and spec.values is not None:
                seen.update(dict.fromkeys(str(v) for v in spec.values))
        text = typed.strip().lower()
        return [v for v in seen if text in v.lower()][:limit]

    def get(self, model_id: str) -> Model:
        """The enabled model ``model_id``, else ValidationError."""
        model = self._models.get(model_id)
        if model is None or not model.enabled:
            raise ValidationError(
                "Unknown model {model}: see /models for the list.", model=repr(model_id)
            )
        return model

    def family_command(self, model: Model) -> str | None:
        return self.families.get(model.family, {}).get("command")

    def default_model(self, media: Media) -> str:
        """The configured default model for ``media``, else the first one enabled."""
        wanted = self.default_image_model if media == "image" else self.default_video_model
        if wanted and wanted in self._models and self._models[wanted].enabled:
            return wanted
        candidates = self.enabled(media)
        if not candidates:
            raise ValidationError("No {media} model is enabled on this bot.", media=media)
        return candidates[0].id

    def prepare(self, request: GenerationRequest) -> PreparedJob:
        """Check ``request`` and build the exact Max API input, or raise ValidationError.

        With images attached, a model's image-input variant (``with_images``) runs."""
        model = self.get(request.model)
        if model.with_images and any(request.image_urls):
            model = self.get(model.with_images)
        return prepare_job(model, request, self.prompt_max_chars)


def merge_documents(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge an operator's catalogue over the built-in one: per model, keys replace keys."""
    merged = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if key == "models" and isinstance(value, Mapping):
            models = merged.setdefault("models", {})
            for model_id, entry in value.items():
                if not isinstance(entry, Mapping):
                    raise CatalogError(f"override for model {model_id!r} must be an object")
                models[model_id] = {**models.get(model_id, {}), **entry}
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _resolve_extends(
    raw: Mapping[str, Any], model_id: str, seen: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The model's entry with the entry it ``extends`` filled in underneath."""
    entry = raw[model_id]
    if not isinstance(entry, Mapping):
        raise CatalogError(f"model {model_id!r} must be an object")
    parent = entry.get("extends")
    if parent is None:
        return dict(entry)
    if parent in seen or parent not in raw:
        raise CatalogError(f"model {model_id!r} extends unknown or circular {parent!r}")
    merged = {**_resolve_extends(raw, parent, (*seen, model_id)), **entry}
    merged.pop("extends", None)
    return merged


def _parse_model(model_id: str, entry: Mapping[str, Any]) -> Model:
    media = entry["media"]
    if media not in ("image", "video"):
        raise ValueError(f"media must be image or video, not {media!r}")
    images = None
    if img := entry.get("images"):
        images = ImageInput(
            img["field"],
            int(img.get("min", 0)),
            img.get("max"),
            img.get("note"),
            max_items=img.get("max_items"),
            media_seconds=img.get("media_seconds"),
        )
    modes = None
    if raw_modes := entry.get("modes"):
        modes = ModeSpec(
            option=raw_modes.get("option"),
            by_images={int(k): v for k, v in raw_modes["by_images"].items()},
            images={k: (int(v[0]), int(v[1])) for k, v in raw_modes["images"].items()},
        )
    rules = tuple(
        Rule(
            when={k: tuple(v) for k, v in r["when"].items()},
            allow={k: tuple(v) for k, v in r["allow"].items()},
            message=r["message"],
        )
        for r in entry.get("rules", ())
    )
    return Model(
        id=model_id,
        label=entry.get("label", model_id),
        family=entry["family"],
        media=media,
        options={name: _parse_option(name, s) for name, s in entry.get("options", {}).items()},
        price=_parse_price(entry["price"]),
        typical_seconds=int(entry.get("typical_seconds") or (20 if media == "image" else 180)),
        max_seconds=int(entry.get("max_seconds") or (1800 if media == "image" else 3600)),
        images=images,
        modes=modes,
        rules=rules,
        refuses=dict(entry.get("refuses", {})),
        with_images=entry.get("with_images"),
        outputs=int(entry.get("outputs", 1)),
        uncertain=bool(entry.get("uncertain", False)),
        enabled=bool(entry.get("enabled", True)),
    )


def _parse_option(name: str, spec: Mapping[str, Any]) -> OptionSpec:
    values = spec.get("values")
    if values is None and ("min" not in spec or "max" not in spec) and name != "n":
        raise ValueError(f"option {name!r} needs 'values' or 'min' and 'max'")
    return OptionSpec(
        name=name,
        values=tuple(values) if values is not None else None,
        min=spec.get("min", 1 if values is None else None),
        max=spec.get("max"),
        default=spec.get("default"),
        assume=spec.get("assume"),
        adult_values=tuple(spec.get("adult_values", ())),
    )


def _parse_price(spec: Mapping[str, Any]) -> PriceSpec:
    per = spec["per"]
    if per not in ("image", "second", "job"):
        raise ValueError(f"price per must be image, second or job, not {per!r}")
    documented = bool(spec.get("documented", False))
    usd = spec["usd"]
    if isinstance(usd, Mapping):
        table = {str(k): float(v) for k, v in usd["values"].items()}
        return PriceSpec(per=per, by=usd["by"], table=table, documented=documented)
    return PriceSpec(per=per, usd=float(usd), documented=documented)
