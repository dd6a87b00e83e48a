"""The generation commands' options, built from the catalogue, with no Discord import.

/imagine and /video offer any model by autocomplete; family commands offer fixed choices."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.domain.catalog import OPTION_FIELDS, Catalog, Media, Model, ValidationError
from bot.domain.media import Kind, check_references, takes_media
from bot.domain.options import check_image_count, option_value
from bot.text.i18n import t

OptionKind = Literal["string", "integer", "attachment"]
#: A text's English template and its fields, for the translator.
Source = tuple[str, Mapping[str, str]]

#: Discord: at most 25 choices per option and 25 options per command.
MAX_CHOICES = 25
MAX_OPTIONS = 25
#: Image options before this release; a model with no known maximum keeps this many.
IMAGE_SLOTS = ("image", "image2", "image3")
#: Video and audio reference options (Seedance 2.0): 9 images + 3 of these fill its 12.
MEDIA_SLOTS: tuple[tuple[str, Kind, str], ...] = (
    ("video", "video", "A reference video, .mp4 or .mov (15 s at most in all)"),
    ("video2", "video", "A second reference video"),
    ("audio", "audio", "A reference sound, .mp3 or .wav (15 s at most in all)"),
    ("audio2", "audio", "A second reference sound"),
)
#: Image options past the third, described with their number.
MORE_IMAGES = "Image {n}, in order after the others"
#: The prompt's description where the command takes video and audio references.
PROMPT_WITH_MEDIA = "What to make; @1, @2… name your files in order: images, videos, then audio"
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
class CommandOption:
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
    source: Source | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One generation command: its options and the models it may run.

    ``models`` includes the image-input variants; ``listed`` is what members are offered."""

    name: str
    description: str
    media: tuple[Media, ...]
    models: tuple[str, ...]
    listed: tuple[str, ...]
    options: tuple[CommandOption, ...]
    families: tuple[str, ...] = ()  # empty for /imagine and /video
    source: Source | None = None

    @property
    def is_family(self) -> bool:
        return bool(self.families)

    @property
    def image_options(self) -> tuple[str, ...]:
        return self.attachment_options("image")

    def attachment_options(self, kind: Kind) -> tuple[str, ...]:
        """The attachment options for ``kind`` (named ``image…``, ``video…``, ``audio…``)."""
        return tuple(o.name for o in self.options if o.kind == "attachment" and o.name[:5] == kind)

    def option(self, name: str) -> CommandOption | None:
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
            CommandOption("ratio", "string", "Aspect ratio, e.g. 16:9", autocomplete=True),
            CommandOption("resolution", "string", "Resolution, e.g. 2k", autocomplete=True),
            *_count(models),
            *_image_options(2, "image"),
            _style_option(),
            *_more_images(2, _most_images(models, 2), 8),
        ),
    )


def video_spec(catalog: Catalog) -> CommandSpec:
    models = catalog.enabled("video")
    durations = [int(v) for v in _values(models, "duration")]
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
            CommandOption("ratio", "string", "Aspect ratio, e.g. 16:9", autocomplete=True),
            CommandOption("resolution", "string", "Resolution, e.g. 720p", autocomplete=True),
            CommandOption(
                "duration",
                "integer",
                "Length in seconds",
                autocomplete=True,
                min_value=min(durations, default=None),
                max_value=max(durations, default=None),
            ),
            CommandOption(
                "mode", "string", "How the images are used, or the style", autocomplete=True
            ),
            _style_option(),
            *_more_images(3, _most_images(models, 3), 10 + len(_media_options(models))),
            *_media_options(models),
        ),
    )


def family_specs(catalog: Catalog) -> list[CommandSpec]:
    """One command per ``command`` named in the catalogue's families."""
    groups: dict[str, list[str]] = {}
    for family, info in catalog.families.items():
        if command := info.get("command"):
            groups.setdefault(command, []).append(family)
    specs = []
    for command, families in groups.items():
        if models := [m for m in catalog.enabled() if m.family in families]:
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
    model_source: Source = (FAMILY_MODEL, {"label": label})
    media_options = _media_options(models)
    prompt = PROMPT_WITH_MEDIA if media_options else "What to make"
    head = (
        _prompt(catalog, prompt),
        _model_option(catalog, listed, FAMILY_MODEL.format(label=label), model_source),
        *_value_option(models, "ratio", "string", "Aspect ratio"),
        *_value_option(models, "resolution", "string", "Resolution"),
        *_count(models),
        *_value_option(models, "duration", "integer", "Length in seconds"),
        *_value_option(models, "mode", "string", "How the images are used, or the style"),
    )
    room = MAX_OPTIONS - len(head) - len(media_options) - 1
    slots = min(_most_images(models, 0), room)
    options = (
        *head,
        *_image_options(min(slots, len(IMAGE_SLOTS)), "video" if media == ("video",) else "image"),
        *_more_images(len(IMAGE_SLOTS), slots, 0),
        *media_options,
        _style_option(),
    )
    return CommandSpec(
        name=command,
        description=FAMILY_DESCRIPTION.format(kind=kind, label=label)[:100],
        source=(FAMILY_DESCRIPTION, {"kind": kind, "label": label}),
        media=media,
        models=tuple(m.id for m in models),
        listed=listed,
        options=options,
        families=families,
    )


def _listed(catalog: Catalog, models: Sequence[Model]) -> tuple[str, ...]:
    hidden = variants(catalog)
    return tuple(m.id for m in models if m.id not in hidden)


def _prompt(catalog: Catalog, description: str) -> CommandOption:
    limit = min(catalog.prompt_max_chars, 6000)
    return CommandOption("prompt", "string", description, required=True, max_length=limit)


def _model_option(
    catalog: Catalog, listed: Sequence[str], description: str, source: Source | None = None
) -> CommandOption:
    """Static choices for a family (few models); autocomplete for /imagine and /video."""
    if listed and len(listed) <= MAX_CHOICES:
        choices = tuple(Choice(model_label(catalog.get(m)), m) for m in listed)
        return CommandOption("model", "string", description, choices=choices, source=source)
    return CommandOption("model", "string", description, autocomplete=True, source=source)


def _style_option() -> CommandOption:
    return CommandOption(
        "style", "string", "A house style of this server, added to the prompt", autocomplete=True
    )


def _count(models: Sequence[Model]) -> list[CommandOption]:
    highs = [spec.max for m in models if (spec := m.option("n")) is not None and spec.max]
    if not highs:
        return []
    description = "How many images to make"
    return [CommandOption("count", "integer", description, min_value=1, max_value=max(highs))]


def _most_images(models: Sequence[Model], today: int) -> int:
    """The most images any of ``models`` takes (no known maximum: ``today``'s count)."""
    most = [m.images.max or max(today, 3) for m in models if m.images is not None]
    return max([today, *most])


def _more_images(first: int, last: int, taken: int) -> list[CommandOption]:
    """Image options ``first + 1``..``last``, as many as fit beside ``taken`` others."""
    numbers = range(first + 1, min(last, MAX_OPTIONS - taken) + 1)
    text = MORE_IMAGES
    return [
        CommandOption(f"image{n}", "attachment", text.format(n=n), source=(text, {"n": str(n)}))
        for n in numbers
    ]


def _media_options(models: Sequence[Model]) -> list[CommandOption]:
    """Video and audio reference options, where one of ``models`` takes them."""
    if not any(takes_media(m) for m in models):
        return []
    return [CommandOption(name, "attachment", text) for name, _, text in MEDIA_SLOTS]


def _image_options(slots: int, media: Media) -> list[CommandOption]:
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
    return [CommandOption(IMAGE_SLOTS[i], "attachment", texts[i]) for i in range(slots)]


def _value_option(
    models: Sequence[Model], key: str, kind: OptionKind, description: str
) -> list[CommandOption]:
    """A family's option ``key``: static choices when they fit in one list, else autocomplete."""
    values = _values(models, key)
    if key == "resolution":
        values.sort(key=_resolution_order)
    elif key == "duration":
        values.sort()
    if not values:
        return []
    if len(values) <= MAX_CHOICES:
        choices = tuple(Choice(choice_name(key, v), v) for v in values)
        return [CommandOption(key, kind, description, choices=choices)]
    ints = [v for v in values if isinstance(v, int)]
    low, high = min(ints, default=None), max(ints, default=None)
    option = CommandOption(key, kind, description, autocomplete=True, min_value=low, max_value=high)
    return [option]


def _values(models: Iterable[Model], key: str) -> list[Any]:
    """Every value an option takes across ``models``, once, in catalogue order."""
    seen: dict[Any, None] = {}
    for model in models:
        if (spec := model.option(OPTION_FIELDS[key])) is not None:
            seen.update(dict.fromkeys(spec.all_values()))
    return list(seen)


def _resolution_order(value: str) -> tuple[int, str]:
    """By size: ``480p`` < ``720p`` < ``1080p``; ``1k`` < ``2k`` < ``4k``; others last."""
    digits = "".join(c for c in value if c.isdigit())
    number = int(digits) if digits else 10**9
    return (number * 1000 if value.lower().endswith("k") else number), value


# -- labels and autocomplete ------------------------------------------------------------


def choice_name(key: str, value: Any) -> str:
    """How a value reads in a list: ``8 s`` for a duration, a label for a mode."""
    if key == "duration":
        name = f"{value} s"
    elif key == "mode":
        name = MODE_LABELS.get(str(value), str(value))
    else:
        name = str(value)
    return name[:CHOICE_NAME_MAX]


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
        if not text or text in model.id.lower() or text in model.label.lower():
            found.append(Choice(model_label(model), model.id))
    return found[:MAX_CHOICES]


def model_for_values(catalog: Catalog, spec: CommandSpec, chosen: str | None) -> Model | None:
    """The model whose values the option autocomplete offers: the chosen one, else the default."""
    model_id = chosen.strip() if chosen else None
    if not model_id or model_id not in spec.models:
        try:
            model_id = catalog.default_model(spec.media[0])
        except ValidationError:
            return None
        if model_id not in spec.models:
            model_id = spec.listed[0] if spec.listed else None
    if model_id is None or model_id not in catalog:
        return None
    return catalog.get(model_id)


def value_choices(model: Model, key: str, typed: str) -> list[Choice]:
    """Autocomplete for ``ratio``/``resolution``/``duration``/``mode``: what ``model``
    accepts, filtered by what was typed (empty when the model takes no such option)."""
    spec = model.option(OPTION_FIELDS[key])
    if spec is None:
        return []
    values = spec.all_values()
    if spec.values is None and len(values) > MAX_CHOICES:
        values = [spec.min, spec.max]
    text = typed.strip().lower()
    found = [Choice(choice_name(key, v), v) for v in values]
    if text:
        found = [c for c in found if text in str(c.value).lower() or text in c.name.lower()]
    return found[:MAX_CHOICES]


def style_choices(styles: Mapping[str, str], typed: str) -> list[Choice]:
    """Autocomplete for ``style``: the server's house styles matching what was typed."""
    text = typed.strip().casefold()
    found = [
        Choice(f"{name}: {body}"[:CHOICE_NAME_MAX], name)
        for name, body in sorted(styles.items(), key=lambda item: item[0].casefold())
        if text in name.casefold() or text in body.casefold()
    ]
    return found[:MAX_CHOICES]


# -- choosing the model -------------------------------------------------------------------


def effective_model(catalog: Catalog, model: Model, image_count: int) -> Model:
    """The model that really runs: the image-input variant when images are attached."""
    if image_count and model.with_images:
        try:
            return catalog.get(model.with_images)
        except ValidationError:
            return model
    return model


def accepts(
    catalog: Catalog,
    model: Model,
    options: Mapping[str, Any],
    image_count: int,
    references: Mapping[Kind, int] | None = None,
) -> bool:
    """Whether ``model`` (or its image variant) takes every chosen option, the images
    and the video and audio ``references`` (counts by kind)."""
    real = effective_model(catalog, model, image_count)
    try:
        check_image_count(real, image_count)
        check_references(real, {"image": image_count, **(references or {})})
        for key, raw in options.items():
            if raw is not None and raw != "" and key in OPTION_FIELDS:
                option_value(real, key, raw)
    except ValidationError:
        return False
    return True


def resolve_model(
    catalog: Catalog,
    spec: CommandSpec,
    requested: str | None,
    *,
    options: Mapping[str, Any],
    image_count: int,
    preferred: Sequence[str | None] = (),
    locale: str | None = None,
    references: Mapping[Kind, int] | None = None,
) -> Model:
    """The model a command runs: the one named, which must belong to the command; else
    for /imagine and /video the first of ``preferred``; else for a family command the
    first of its models that takes the chosen options and images, or its first model."""
    if requested and requested.strip():
        model = catalog.get(requested.strip())
        if model.id not in spec.models:
            where = ["/video" if model.media == "video" else "/imagine"]
            if family := catalog.family_command(model):
                where.append(f"/{family}")
            raise ValidationError(
                t(
                    locale,
                    "/{command} does not run {model}: use {where}.",
                    command=spec.name,
                    model=model.id,
                    where=t(locale, " or ").join(where),
                )
            )
        return model
    ids = [m for m in dict.fromkeys([*preferred, *spec.listed]) if m and m in spec.models]
    models = [catalog.get(m) for m in ids if m in catalog]
    if not models:
        raise ValidationError(t(locale, "No model is enabled for /{command}.", command=spec.name))
    if spec.is_family:
        return next(
            (m for m in models if accepts(catalog, m, options, image_count, references)),
            models[0],
        )
    return models[0]
