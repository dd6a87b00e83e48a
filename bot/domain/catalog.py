"""The model catalogue: what each Max API model accepts, costs and typically takes.

The facts live in ``bot/data/catalog.json`` (data, not code) so that an operator can
correct what the Max API docs left unclear — a price, an enum, a maximum — by pointing
``CATALOG_PATH`` at a JSON file of the same shape, merged over the built-in one.

:meth:`Catalog.prepare` is the one gate between a member's request and Max API: it
turns a prompt, the options the member chose, the guild's defaults and the attachment
URLs into the exact ``input`` to submit, or raises :class:`ValidationError` with one
sentence that says what is allowed. It never lets through a field the model refuses,
and it only sends what somebody chose, so Max API's own defaults apply to the rest.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

Media = Literal["image", "video"]

#: The member-facing option names and the Max API field each one fills.
OPTION_FIELDS: dict[str, str] = {
    "ratio": "ratio",
    "resolution": "resolution",
    "count": "n",
    "duration": "duration",
    "mode": "mode",
}


class ValidationError(ValueError):
    """The request cannot go to Max API; ``str()`` tells the member what is allowed.

    Like :class:`bot.domain.errors.UserFacingError`, the message may be a template with
    ``fields``: ``str()`` is the English sentence, ``template`` the translation key."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message.format(**fields) if fields else message)
        self.template = message
        self.fields = fields


class CatalogError(ValueError):
    """The catalogue file itself is malformed (an operator's override, usually)."""


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One Max API field: an enum (``values``) or an integer range (``min``/``max``)."""

    name: str
    values: tuple[Any, ...] | None = None
    min: int | None = None
    max: int | None = None
    default: Any = None  # Max API's documented default (informational; never sent)
    assume: Any = None  # value assumed for price/ETA when empty and the default is unknown
    adult_values: tuple[Any, ...] = ()
    uncertain: bool = False

    @property
    def is_integer(self) -> bool:
        if self.values is not None:
            return all(isinstance(v, int) for v in self.values)
        return True

    def allowed_text(self) -> str:
        if self.values is not None:
            return ", ".join(str(v) for v in self.values)
        return f"{self.min} to {self.max}"

    def normalise(self, raw: Any) -> Any:
        """Return the canonical value for ``raw`` or ``None`` when it is not allowed."""
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
        for value in self.values or ():
            if str(value).lower() == text:
                return value
        return None

    @property
    def effective_default(self) -> Any:
        return self.default if self.default is not None else self.assume

    @property
    def largest(self) -> Any:
        if self.values:
            return max(self.values) if self.is_integer else None
        return self.max


@dataclass(frozen=True, slots=True)
class ImageInput:
    """How a model takes input images: the field name and how many."""

    field: str
    min: int = 0
    max: int | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ModeSpec:
    """Models whose mode follows the image count (Veo): 0 → t2v, 1 → i2v, …"""

    option: str | None
    by_images: Mapping[int, str]
    images: Mapping[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Rule:
    """A cross-field rule: when every ``when`` field has one of its values, every
    ``allow`` field must have one of its values (``None`` meaning "left empty")."""

    when: Mapping[str, tuple[Any, ...]]
    allow: Mapping[str, tuple[Any, ...]]
    message: str


@dataclass(frozen=True, slots=True)
class PriceSpec:
    per: Literal["image", "second", "job"]
    usd: float | None = None
    by: str | None = None  # the option the unit price depends on (e.g. resolution)
    table: Mapping[str, float] = field(default_factory=dict)
    documented: bool = False


@dataclass(frozen=True, slots=True)
class Model:
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
    notes: str | None = None

    @property
    def takes_images(self) -> bool:
        return self.images is not None

    @property
    def needs_images(self) -> bool:
        return self.images is not None and self.images.min > 0

    def option(self, name: str) -> OptionSpec | None:
        return self.options.get(name)


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What a member asked for, in plain values (no discord objects)."""

    model: str
    prompt: str
    options: Mapping[str, Any] = field(default_factory=dict)  # keys from OPTION_FIELDS
    image_urls: Sequence[str] = ()
    guild_defaults: Mapping[str, Any] = field(default_factory=dict)
    nsfw_channel: bool = False


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A validated request: the exact Max API call and what it will cost."""

    model: Model
    input: dict[str, Any]
    price_usd: float
    price_documented: bool
    outputs: int  # images a job makes (quota counts them); 1 for a video
    mode: str | None = None

    @property
    def media(self) -> Media:
        return self.model.media


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

    # -- loading -------------------------------------------------------------------

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

    # -- lookup --------------------------------------------------------------------

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

    def get(self, model_id: str) -> Model:
        model = self._models.get(model_id)
        if model is None or not model.enabled:
            raise ValidationError(
                "Unknown model {model}: see /models for the list.", model=repr(model_id)
            )
        return model

    def family_command(self, model: Model) -> str | None:
        return self.families.get(model.family, {}).get("command")

    def default_model(self, media: Media) -> str:
        wanted = self.default_image_model if media == "image" else self.default_video_model
        if wanted and wanted in self._models and self._models[wanted].enabled:
            return wanted
        candidates = self.enabled(media)
        if not candidates:
            raise ValidationError("No {media} model is enabled on this bot.", media=media)
        return candidates[0].id

    # -- validation ----------------------------------------------------------------

    def prepare(self, request: GenerationRequest) -> PreparedJob:
        """Validate ``request`` and build the exact Max API input, or raise."""
        model = self.get(request.model)
        images = [u for u in request.image_urls if u]
        if images and model.with_images:
            model = self.get(model.with_images)

        prompt = request.prompt.strip()
        if not prompt:
            raise ValidationError("The prompt is empty: describe what you want to see.")
        if len(prompt) > self.prompt_max_chars:
            raise ValidationError(
                "The prompt is {length} characters long; the limit is {limit}. "
                "Shorten it and try again.",
                length=len(prompt),
                limit=self.prompt_max_chars,
            )

        _check_image_count(model, len(images))
        chosen = self._chosen_values(model, request)
        mode = _effective_mode(model, chosen, len(images))
        for name, spec in model.options.items():
            value = chosen.get(name)
            if value is not None and value in spec.adult_values and not request.nsfw_channel:
                raise ValidationError(
                    "{option} {value} is only allowed in age-restricted channels.",
                    option=name,
                    value=value,
                )
        _check_rules(model, chosen, mode)

        body: dict[str, Any] = {"prompt": prompt}
        for name, value in chosen.items():
            body[name] = value
        if images and model.images is not None:
            body[model.images.field] = list(images)
        price, documented = estimate_price(model, chosen)
        outputs = _outputs(model, chosen)
        return PreparedJob(model, body, price, documented, outputs, mode)

    def _chosen_values(self, model: Model, request: GenerationRequest) -> dict[str, Any]:
        """Member options validated strictly; guild defaults applied only where valid."""
        chosen: dict[str, Any] = {}
        for key, raw in request.guild_defaults.items():
            api_name = OPTION_FIELDS.get(key, key)
            spec = model.option(api_name)
            if raw is None or spec is None:
                continue
            value = spec.normalise(raw)
            if value is not None:
                chosen[api_name] = value
        for key, raw in request.options.items():
            if raw is None or raw == "":
                continue
            if key not in OPTION_FIELDS:
                raise ValidationError("Unknown option {option}.", option=repr(key))
            api_name = OPTION_FIELDS[key]
            spec = model.option(api_name)
            if spec is None:
                if api_name == "n" and _as_int(raw) == 1:
                    continue  # "one image" is what a model without n makes anyway
                raise _refusal(model, api_name, key, raw)
            value = spec.normalise(raw)
            if value is None:
                raise ValidationError(
                    "{model} takes {option} {allowed}; {value} is not one of them.",
                    model=model.id,
                    option=key,
                    allowed=spec.allowed_text(),
                    value=repr(raw),
                )
            chosen[api_name] = value
        return chosen


# -- helpers ---------------------------------------------------------------------


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
    entry = raw[model_id]
    if not isinstance(entry, Mapping):
        raise CatalogError(f"model {model_id!r} must be an object")
    parent = entry.get("extends")
    if parent is None:
        return dict(entry)
    if parent in seen or parent not in raw:
        raise CatalogError(f"model {model_id!r} extends unknown or circular {parent!r}")
    base = _resolve_extends(raw, parent, (*seen, model_id))
    merged = {**base, **entry}
    merged.pop("extends", None)
    return merged


def _parse_model(model_id: str, entry: Mapping[str, Any]) -> Model:
    media = entry["media"]
    if media not in ("image", "video"):
        raise ValueError(f"media must be image or video, not {media!r}")
    options = {name: _parse_option(name, spec) for name, spec in entry.get("options", {}).items()}
    images = None
    if entry.get("images"):
        img = entry["images"]
        images = ImageInput(img["field"], int(img.get("min", 0)), img.get("max"), img.get("note"))
    modes = None
    if entry.get("modes"):
        raw_modes = entry["modes"]
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
        options=options,
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
        notes=entry.get("notes"),
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
        uncertain=bool(spec.get("uncertain", False)),
    )


def _parse_price(spec: Mapping[str, Any]) -> PriceSpec:
    per = spec["per"]
    if per not in ("image", "second", "job"):
        raise ValueError(f"price per must be image, second or job, not {per!r}")
    usd = spec["usd"]
    if isinstance(usd, Mapping):
        return PriceSpec(
            per=per,
            by=usd["by"],
            table={str(k): float(v) for k, v in usd["values"].items()},
            documented=bool(spec.get("documented", False)),
        )
    return PriceSpec(per=per, usd=float(usd), documented=bool(spec.get("documented", False)))


def _as_int(raw: Any) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _refusal(model: Model, api_name: str, key: str, raw: Any) -> ValidationError:
    template = model.refuses.get(api_name)
    if template:
        return ValidationError(template, value=raw, option=key, model=model.id)
    if api_name == "n":
        return ValidationError(
            "{model} makes one result per job: leave count empty.", model=model.id
        )
    return ValidationError("{model} takes no {option}: leave it empty.", model=model.id, option=key)


def _check_image_count(model: Model, count: int) -> None:
    if model.images is None:
        if count:
            raise ValidationError(
                "{model} does not take images: remove the attachments or pick a model "
                "that edits images.",
                model=model.id,
            )
        return
    low, high = model.images.min, model.images.max
    if count < low:
        raise ValidationError(
            "{model} needs at least 1 image." if low == 1 else "{model} needs at least {n} images.",
            model=model.id,
            n=low,
        )
    if high is not None and count > high:
        templates = {
            (True, False): "{model} takes at most {n} image; you attached {count}.",
            (False, False): "{model} takes at most {n} images; you attached {count}.",
            (True, True): "{model} takes at most {n} image ({note}); you attached {count}.",
            (False, True): "{model} takes at most {n} images ({note}); you attached {count}.",
        }
        raise ValidationError(
            templates[high == 1, bool(model.images.note)],
            model=model.id,
            n=high,
            note=model.images.note,
            count=count,
        )


def _effective_mode(model: Model, chosen: Mapping[str, Any], count: int) -> str | None:
    spec = model.modes
    if spec is None:
        return None
    explicit = chosen.get(spec.option) if spec.option else None
    mode = explicit or spec.by_images.get(count)
    if mode is None:
        raise ValidationError("{model} cannot use {count} images.", model=model.id, count=count)
    low, high = spec.images.get(mode, (0, 99))
    if not low <= count <= high:
        templates = {
            (True, True): "{model} mode {mode} needs {low} image; you attached {count}.",
            (True, False): "{model} mode {mode} needs {low} images; you attached {count}.",
            (False, True): "{model} mode {mode} needs {low} to {high} image; you attached {count}.",
            (False, False): (
                "{model} mode {mode} needs {low} to {high} images; you attached {count}."
            ),
        }
        raise ValidationError(
            templates[low == high, high == 1],
            model=model.id,
            mode=mode,
            low=low,
            high=high,
            count=count,
        )
    return mode


def _rule_value(model: Model, chosen: Mapping[str, Any], mode: str | None, name: str) -> Any:
    if name == "mode" and model.modes is not None:
        return mode
    if name in chosen:
        return chosen[name]
    spec = model.option(name)
    return spec.default if spec is not None else None


def _check_rules(model: Model, chosen: Mapping[str, Any], mode: str | None) -> None:
    for rule in model.rules:
        if all(_rule_value(model, chosen, mode, k) in v for k, v in rule.when.items()) and any(
            _rule_value(model, chosen, mode, k) not in v for k, v in rule.allow.items()
        ):
            raise ValidationError(rule.message)


def _quantity(model: Model, chosen: Mapping[str, Any], name: str) -> tuple[int, bool]:
    """The value of an integer option for pricing, and whether it is known for sure."""
    if name in chosen:
        return int(chosen[name]), True
    spec = model.option(name)
    if spec is None:
        return 1, True
    if spec.default is not None:
        return int(spec.default), True
    guess = spec.assume if spec.assume is not None else spec.largest
    return int(guess if guess is not None else 1), False


def estimate_price(model: Model, chosen: Mapping[str, Any]) -> tuple[float, bool]:
    """USD for one job and whether that figure follows documented prices exactly.

    Where a factor is unknown (an option left empty whose default the docs do not
    give) the estimate assumes the most expensive reading, so limits err on the safe side.
    """
    price = model.price
    documented = price.documented
    if price.by is not None:
        key = chosen.get(price.by)
        if key is None:
            spec = model.option(price.by)
            key = spec.default if spec is not None else None
        if key is None or str(key) not in price.table:
            unit, documented = max(price.table.values()), False
        else:
            unit = price.table[str(key)]
    else:
        unit = price.usd or 0.0
    if price.per == "image":
        qty, sure = _quantity(model, chosen, "n")
    elif price.per == "second":
        qty, sure = _quantity(model, chosen, "duration")
    else:
        qty, sure = 1, True
    return round(unit * qty, 6), documented and sure


def _outputs(model: Model, chosen: Mapping[str, Any]) -> int:
    if model.media == "video":
        return 1
    if model.option("n") is not None:
        return _quantity(model, chosen, "n")[0]
    return model.outputs


def describe_options(model: Model) -> Iterable[tuple[str, str]]:
    """Member-facing option names with their allowed values, for /models and errors."""
    for key, api_name in OPTION_FIELDS.items():
        spec = model.option(api_name)
        if spec is not None:
            yield key, spec.allowed_text()
