"""Checking a member's request against one model and building the exact Max API input.

Only what somebody chose is sent, so Max API's own defaults apply to the rest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.domain.catalog_types import Media, Model, ValidationError
from bot.domain.media import check_references, count_kinds
from bot.domain.prompt import EMPTY

#: The member-facing option names and the Max API field each one fills.
OPTION_FIELDS: dict[str, str] = {
    "ratio": "ratio",
    "resolution": "resolution",
    "count": "n",
    "duration": "duration",
    "mode": "mode",
}


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What a member asked for, in plain values (no discord objects)."""

    model: str
    prompt: str
    options: Mapping[str, Any] = field(default_factory=dict)  # keys from OPTION_FIELDS
    image_urls: Sequence[str] = ()
    guild_defaults: Mapping[str, Any] = field(default_factory=dict)
    nsfw_channel: bool = False
    style: str | None = None  # the house style's name (its text is in ``prompt`` already)


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A checked request: the exact Max API call and what it will cost."""

    model: Model
    input: dict[str, Any]
    price_usd: float
    price_documented: bool
    outputs: int  # images a job makes (quota counts them); 1 for a video
    mode: str | None = None

    @property
    def media(self) -> Media:
        return self.model.media


def prepare_job(model: Model, request: GenerationRequest, prompt_max_chars: int) -> PreparedJob:
    """Check ``request`` for ``model`` and build the Max API input, or raise ValidationError."""
    images = [u for u in request.image_urls if u]
    prompt = request.prompt.strip()
    if not prompt:
        raise ValidationError(EMPTY)
    if len(prompt) > prompt_max_chars:
        raise ValidationError(
            "The prompt is {length} characters long; the limit is {limit}. "
            "Shorten it and try again.",
            length=len(prompt),
            limit=prompt_max_chars,
        )
    counts = count_kinds(images)  # images, then videos, then audio (Seedance 2.0)
    check_image_count(model, counts["image"])
    check_references(model, counts)
    chosen = _chosen_values(model, request)
    mode = _effective_mode(model, chosen, counts["image"])
    for name, spec in model.options.items():
        value = chosen.get(name)
        if value is not None and value in spec.adult_values and not request.nsfw_channel:
            raise ValidationError(
                "{option} {value} is only allowed in age-restricted channels.",
                option=name,
                value=value,
            )
    _check_rules(model, chosen, mode)
    body: dict[str, Any] = {"prompt": prompt, **chosen}
    if images and model.images is not None:
        body[model.images.field] = images
    price, documented = estimate_price(model, chosen)
    return PreparedJob(model, body, price, documented, _outputs(model, chosen), mode)


def option_value(model: Model, key: str, raw: Any) -> Any:
    """The Max API value of the member option ``key``, None when nothing needs sending."""
    api_name = OPTION_FIELDS[key]
    spec = model.option(api_name)
    if spec is None:
        if api_name == "n" and _as_int(raw) == 1:
            return None  # "one image" is what a model without n makes anyway
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
    return value


def _chosen_values(model: Model, request: GenerationRequest) -> dict[str, Any]:
    """Member options checked strictly; the guild's defaults applied only where valid
    (a tuple of defaults, the strongest first: the first this model takes)."""
    chosen: dict[str, Any] = {}
    for key, raw in request.guild_defaults.items():
        api_name = OPTION_FIELDS.get(key, key)
        spec = model.option(api_name)
        for candidate in raw if isinstance(raw, tuple) else (raw,):
            if candidate is None or spec is None:
                continue
            if (value := spec.normalise(candidate)) is not None:
                chosen[api_name] = value
                break
    for key, raw in request.options.items():
        if raw is None or raw == "":
            continue
        if key not in OPTION_FIELDS:
            raise ValidationError("Unknown option {option}.", option=repr(key))
        value = option_value(model, key, raw)
        if value is not None:
            chosen[OPTION_FIELDS[key]] = value
    return chosen


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


def check_image_count(model: Model, count: int) -> None:
    """Raise ValidationError unless ``model`` takes ``count`` input images."""
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
    """The mode the member chose, else the one the image count implies (Veo)."""
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


def _check_rules(model: Model, chosen: Mapping[str, Any], mode: str | None) -> None:
    def value(name: str) -> Any:
        if name == "mode" and model.modes is not None:
            return mode
        if name in chosen:
            return chosen[name]
        spec = model.option(name)
        return spec.default if spec is not None else None

    for rule in model.rules:
        if all(value(k) in v for k, v in rule.when.items()) and any(
            value(k) not in v for k, v in rule.allow.items()
        ):
            raise ValidationError(rule.message)


def priced_quantity(model: Model, chosen: Mapping[str, Any], name: str) -> tuple[int, bool]:
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
    """USD for one job, and whether it follows documented prices exactly.

    An unknown factor is taken at its most expensive, so limits err on the safe side."""
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
        qty, sure = priced_quantity(model, chosen, "n")
    elif price.per == "second":
        qty, sure = priced_quantity(model, chosen, "duration")
    else:
        qty, sure = 1, True
    return round(unit * qty, 6), documented and sure


def _outputs(model: Model, chosen: Mapping[str, Any]) -> int:
    if model.media == "video":
        return 1
    if model.option("n") is not None:
        return priced_quantity(model, chosen, "n")[0]
    return model.outputs


def describe_options(model: Model) -> Iterable[tuple[str, str]]:
    """Member-facing option names with their allowed values, for /models."""
    for key, api_name in OPTION_FIELDS.items():
        spec = model.option(api_name)
        if spec is not None:
            yield key, spec.allowed_text()
