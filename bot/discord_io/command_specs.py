"""The generation commands' options, built from the model catalogue.

``/imagine`` and ``/video`` take any model of their media (autocomplete, since the
choice of ratio or duration depends on the model); each family command (``/seedream``,
``/veo``, …) offers static choices for exactly the values its models accept, so a
member sees only valid options. Every command runs the same code path
(``cogs/generate.py``); only these specs differ, and they come from the catalogue, so
a model added to ``catalog.json`` shows up in its commands without code.

Pure: plain values in and out, no Discord import. The catalogue stays the one judge of
a request (``Catalog.prepare``): the specs only make invalid requests hard to type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.domain.catalog import OPTION_FIELDS, Catalog, Media, Model, ValidationError
from bot.text.i18n import t

OptionKind = Literal["string", "integer", "attachment"]

#: Discord: at most 25 choices per option and 25 options per command.
MAX_CHOICES = 25
IMAGE_SLOTS = ("image", "image2", "image3")
CHOICE_NAME_MAX = 100

#: Member-facing names for mode values that explain themselves poorly.
MODE_LABELS: dict[str, str] = {
    "t2v": "t2v: from the prompt only",
    "i2v": "i2v: the image is the first frame",
    "i2v-fl": "i2v-fl: first and last frame",
    "r2v": "r2v: the images are references",
    "spicy": "spicy (age-restricted channels only)",
}


#: Templates kept with their fields (``source``), so a new family is described in every locale.
FAMILY_DESCRIPTION = "Make {kind} with {label}"
FAMILY_MODEL = "The {label} model"


@dataclass(frozen=True, slots=True)
class Choice:
    name: str
    value: str | int


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One slash-command option, as Discord will show it."""

    name: str
    kind: OptionKind
    description: str
    required: bool = False
    choices: tuple[Choice, ...] = ()
    autocomplete: bool = False
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None
    #: The template and fields ``description`` was made from, if any (the translation key).
    source: tuple[str, Mapping[str, str]] | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One generation command: its options and the models it may run."""

    name: str
    description: str
    media: tuple[Media, ...]
    models: tuple[str, ...]
    """Every model the command may run, image-input variants included."""
    listed: tuple[str, ...]
    """The models offered to members; variants are chosen automatically from these."""
    options: tuple[OptionSpec, ...]
    families: tuple[str, ...] = ()
    """The catalogue families of a family command; empty for /imagine and /video."""
    source: tuple[str, Mapping[str, str]] | None = None
    """The template and fields ``description`` was made from, if any (the translation key)."""

    @property
    def is_family(self) -> bool:
        return bool(self.families)

    @property
    def image_options(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options if o.kind == "attachment")

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.options if o.name == name), None)


# -- building the specs -------------------------------------------------------------


def variants(catalog: Catalog) -> frozenset[str]:
    """Models picked automatically when images are attached (``with_images`` targets)."""
    return frozenset(m.with_images for m in catalog.enabled() if m.with_images)


def command_specs(catalog: Catalog) -> list[CommandSpec]:
    """``/imagine``, ``/video``, then one command per family, in catalogue order."""
    specs = [imagine_spec(catalog), video_spec(catalog), *family_specs(catalog)]
    return [s for s in specs if s.models]


def imagine_spec(catalog: Catalog) -> CommandSpec:
    models = catalog.enabled("image")
    return CommandSpec(
        name="imagine",
        description="Make images from a prompt, or edit the images you attach",
        media=("image",),
        models=tuple(m.id for m in models),
        listed=_listed(catalog, models),
        options=(
            _prompt(catalog, "What to make: subject, style, light, mood"),
            _model_option(catalog, (), "The model (default: the server's choice)"),
            OptionSpec("ratio", "string", "Aspect ratio, e.g. 16:9", autocomplete=True),
            OptionSpec("resolution", "string", "Resolution, e.g. 2k", autocomplete=True),
            *_count(models),
            *_image_options(2, "image"),
        ),
    )


def video_spec(catalog: Catalog) -> CommandSpec:
    models = catalog.enabled("video")
    duration = _integers(models, "duration")
    low = min(duration) if duration else None
    high = max(duration) if duration else None
    return CommandSpec(
        name="video",
        description="Make a video from a prompt, or from the images you attach",
        media=("video",),
        models=tuple(m.id for m in models),
        listed=_listed(catalog, models),
        options=(
            _prompt(catalog, "What happens in the video"),
            _model_option(catalog, (), "The model (default: the server's choice)"),
            *_image_options(3, "video"),
            OptionSpec("ratio", "string", "Aspect ratio, e.g. 16:9", autocomplete=True),
            OptionSpec("resolution", "string", "Resolution, e.g. 720p", autocomplete=True),
            OptionSpec(
                "duration",
                "integer",
                "Length in seconds",
                autocomplete=True,
                min_value=low,
                max_value=high,
            ),
            OptionSpec(
                "mode", "string", "How the images are used, or the style", autocomplete=True
            ),
        ),
    )


def family_specs(catalog: Catalog) -> list[CommandSpec]:
    """One command per ``command`` named in the catalogue's families."""
    groups: dict[str, list[str]] = {}
    for family, info in catalog.families.items():
        command = info.get("command")
        if command:
            groups.setdefault(command, []).append(family)
    specs = []
    for command, families in groups.items():
        models = [m for m in catalog.enabled() if m.family in families]
        if models:
            specs.append(_family_spec(catalog, command, tuple(families), models))
    return specs


def _family_spec(
    catalog: Catalog, command: str, families: tuple[str, ...], models: list[Model]
) -> CommandSpec:
    label = catalog.families[families[0]].get("label", command)
    media = tuple(dict.fromkeys(m.media for m in models))
    kinds: dict[tuple[str, ...], str] = {("image",): "images", ("video",): "videos"}
    kind = kinds.get(media, "images and videos")
    listed = _listed(catalog, models)
    options: list[OptionSpec] = [
        _prompt(catalog, "What to make"),
        _model_option(
            catalog,
            listed,
            FAMILY_MODEL.format(label=label),
            source=(FAMILY_MODEL, {"label": label}),
        ),
    ]
    for key, description in (
        ("ratio", "Aspect ratio"),
        ("resolution", "Resolution"),
    ):
        values = _strings(models, key)
        if key == "resolution":
            values.sort(key=_resolution_order)
        if values:
            options.append(_static_or_auto(key, "string", description, values))
    options += _count(models)
    durations = _integers(models, "duration")
    if durations:
        options.append(
            _static_or_auto(
                "duration",
                "integer",
                "Length in seconds",
                sorted(durations),
                names=lambda v: f"{v} s",
            )
        )
    modes = _strings(models, "mode")
    if modes:
        options.append(
            _static_or_auto(
                "mode",
                "string",
                "How the images are used, or the style",
                modes,
                names=lambda v: MODE_LABELS.get(str(v), str(v)),
            )
        )
    slots = min(max((m.images.max or 1) if m.images else 0 for m in models), len(IMAGE_SLOTS))
    options += _image_options(slots, "video" if media == ("video",) else "image")
    return CommandSpec(
        name=command,
        description=FAMILY_DESCRIPTION.format(kind=kind, label=label)[:100],
        source=(FAMILY_DESCRIPTION, {"kind": kind, "label": label}),
        media=media,
        models=tuple(m.id for m in models),
        listed=listed,
        options=tuple(options),
        families=families,
    )


def _listed(catalog: Catalog, models: Sequence[Model]) -> tuple[str, ...]:
    hidden = variants(catalog)
    return tuple(m.id for m in models if m.id not in hidden)


def _prompt(catalog: Catalog, description: str) -> OptionSpec:
    return OptionSpec(
        "prompt",
        "string",
        description,
        required=True,
        max_length=min(catalog.prompt_max_chars, 6000),
    )


def _model_option(
    catalog: Catalog,
    listed: Sequence[str],
    description: str,
    source: tuple[str, Mapping[str, str]] | None = None,
) -> OptionSpec:
    """Static choices for a family (few models); autocomplete for /imagine and /video."""
    if listed and len(listed) <= MAX_CHOICES:
        choices = tuple(Choice(model_label(catalog.get(m)), m) for m in listed)
        return OptionSpec("model", "string", description, choices=choices, source=source)
    return OptionSpec("model", "string", description, autocomplete=True, source=source)


def _count(models: Sequence[Model]) -> list[OptionSpec]:
    highs = [spec.max for m in models if (spec := m.option("n")) is not None and spec.max]
    if not highs:
        return []
    return [
        OptionSpec("count", "integer", "How many images to make", min_value=1, max_value=max(highs))
    ]


def _image_options(slots: int, media: Media) -> list[OptionSpec]:
    if media == "video":
        texts = (
            "First frame (or a reference image)",
            "Last frame (or a second reference)",
            "A third reference image",
        )
    else:
        texts = (
            "An image to edit or start from",
            "A second image to combine",
            "A third image to combine",
        )
    return [OptionSpec(IMAGE_SLOTS[i], "attachment", texts[i]) for i in range(slots)]


def _static_or_auto(
    name: str,
    kind: OptionKind,
    description: str,
    values: Sequence[Any],
    *,
    names: Callable[[Any], str] = str,
) -> OptionSpec:
    if len(values) <= MAX_CHOICES:
        choices = tuple(Choice(names(v)[:CHOICE_NAME_MAX], v) for v in values)
        return OptionSpec(name, kind, description, choices=choices)
    ints = [v for v in values if isinstance(v, int)]
    return OptionSpec(
        name,
        kind,
        description,
        autocomplete=True,
        min_value=min(ints) if ints else None,
        max_value=max(ints) if ints else None,
    )


def _strings(models: Iterable[Model], key: str) -> list[str]:
    """Every value of an enum option across ``models``, in catalogue order, once."""
    seen: dict[str, None] = {}
    for model in models:
        spec = model.option(OPTION_FIELDS[key])
        for value in (spec.values or ()) if spec is not None else ():
            seen.setdefault(str(value), None)
    return list(seen)


def _resolution_order(value: str) -> tuple[int, str]:
    """By size: ``480p`` < ``720p`` < ``1080p``; ``1k`` < ``2k`` < ``4k``; others last."""
    digits = "".join(c for c in value if c.isdigit())
    number = int(digits) if digits else 10**9
    return (number * 1000 if value.lower().endswith("k") else number), value


def _integers(models: Iterable[Model], key: str) -> set[int]:
    """Every value an integer option may take across ``models`` (ranges spelt out)."""
    found: set[int] = set()
    for model in models:
        spec = model.option(OPTION_FIELDS[key])
        if spec is None:
            continue
        if spec.values is not None:
            found.update(int(v) for v in spec.values)
        elif spec.min is not None and spec.max is not None:
            found.update(range(int(spec.min), int(spec.max) + 1))
    return found


# -- labels and autocomplete ------------------------------------------------------------


def price_hint(model: Model) -> str:
    price = model.price
    unit = {"image": "image", "second": "s", "job": "job"}[price.per]
    if price.table:
        return f"from ${min(price.table.values()):g}/{unit}"
    return f"${price.usd or 0:g}/{unit}"


def model_label(model: Model) -> str:
    """``Nano Banana 2 · nano-banana-2 · $0.1/image`` (≤ 100 characters)."""
    tail = f" · {model.id} · {price_hint(model)}"
    room = CHOICE_NAME_MAX - len(tail)
    label = model.label if len(model.label) <= room else model.label[: max(room - 1, 0)] + "…"
    return (label + tail)[:CHOICE_NAME_MAX]


def model_choices(
    catalog: Catalog,
    spec: CommandSpec,
    typed: str,
    *,
    allowed: Callable[[str], bool] | None = None,
) -> list[Choice]:
    """Autocomplete for ``model``: the command's models matching what was typed."""
    text = typed.strip().lower()
    found = []
    for model_id in spec.listed:
        if model_id not in catalog or (allowed is not None and not allowed(model_id)):
            continue
        model = catalog.get(model_id)
        if text and text not in model.id.lower() and text not in model.label.lower():
            continue
        found.append(Choice(model_label(model), model.id))
    return found[:MAX_CHOICES]


def value_choices(model: Model, key: str, typed: str) -> list[Choice]:
    """Autocomplete for ``ratio``/``resolution``/``duration``/``mode``: what ``model``
    accepts, filtered by what was typed (empty when the model takes no such option)."""
    spec = model.option(OPTION_FIELDS[key])
    if spec is None:
        return []
    values: list[Any]
    if spec.values is not None:
        values = list(spec.values)
    elif spec.min is not None and spec.max is not None:
        span = range(int(spec.min), int(spec.max) + 1)
        values = list(span) if len(span) <= MAX_CHOICES else [spec.min, spec.max]
    else:
        return []
    text = typed.strip().lower()
    found = []
    for value in values:
        if key == "duration":
            name = f"{value} s"
        elif key == "mode":
            name = MODE_LABELS.get(str(value), str(value))
        else:
            name = str(value)
        if text and text not in str(value).lower() and text not in name.lower():
            continue
        found.append(Choice(name[:CHOICE_NAME_MAX], value))
    return found[:MAX_CHOICES]


# -- choosing the model -------------------------------------------------------------------


def effective_model(catalog: Catalog, model: Model, image_count: int) -> Model:
    """The model that really runs: the image-input variant when images are attached
    (Grok and GPT Image 2 have separate image-to-image/-video models)."""
    if image_count and model.with_images:
        try:
            return catalog.get(model.with_images)
        except ValidationError:
            return model
    return model


def accepts(catalog: Catalog, model: Model, options: Mapping[str, Any], image_count: int) -> bool:
    """Whether ``model`` (or its image variant) takes every chosen option and the images."""
    real = effective_model(catalog, model, image_count)
    if image_count:
        if real.images is None or (real.images.max is not None and image_count > real.images.max):
            return False
    elif real.needs_images:
        return False
    for key, raw in options.items():
        if raw is None or raw == "" or key not in OPTION_FIELDS:
            continue
        spec = real.option(OPTION_FIELDS[key])
        if spec is None:
            if key == "count" and str(raw) == "1":
                continue
            return False
        if spec.normalise(raw) is None:
            return False
    return True


def wrong_command(catalog: Catalog, spec: CommandSpec, model: Model, locale: str | None) -> str:
    where = ["/video" if model.media == "video" else "/imagine"]
    family = catalog.family_command(model)
    if family:
        where.append(f"/{family}")
    return t(
        locale,
        "/{command} does not run {model}: use {where}.",
        command=spec.name,
        model=model.id,
        where=t(locale, " or ").join(where),
    )


def resolve_model(
    catalog: Catalog,
    spec: CommandSpec,
    requested: str | None,
    *,
    options: Mapping[str, Any],
    image_count: int,
    preferred: Sequence[str | None] = (),
    locale: str | None = None,
) -> Model:
    """The model a command runs.

    A model the member named must belong to the command. Otherwise ``/imagine`` and
    ``/video`` run the first of ``preferred`` (the server's default, then the
    catalogue's) — a member who wants another model names it. A family command runs
    the first of its models that takes every option chosen and the attached images
    (``/grok duration:10`` makes a video, ``/grok`` an image), else its first model.
    """
    if requested and requested.strip():
        model = catalog.get(requested.strip())
        if model.id not in spec.models:
            raise ValidationError(wrong_command(catalog, spec, model, locale))
        return model
    candidates: dict[str, Model] = {}  # by id, in order (comparing models is slow)
    for model_id in [*preferred, *spec.listed]:
        if not model_id or model_id in candidates or model_id not in spec.models:
            continue
        if model_id in catalog and (model := catalog.get(model_id)).enabled:
            if not spec.is_family:
                return model
            candidates[model_id] = model
    if not candidates:
        raise ValidationError(t(locale, "No model is enabled for /{command}.", command=spec.name))
    for model in candidates.values():
        if accepts(catalog, model, options, image_count):
            return model
    return next(iter(candidates.values()))
