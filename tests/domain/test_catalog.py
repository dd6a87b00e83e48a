"""The catalogue: every model, every option value, forbidden values, image counts,
cross-field rules and prices, checked against the upstream contract (the simulator's
verbatim copy of ``models.json``) rather than against itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.domain.catalog import (
    OPTION_FIELDS,
    Catalog,
    CatalogError,
    GenerationRequest,
    ValidationError,
)

UPSTREAM_PATH = Path(__file__).resolve().parents[2] / "simulator" / "models.json"
UPSTREAM: dict[str, Any] = {
    k: v for k, v in json.loads(UPSTREAM_PATH.read_text()).items() if k != "_meta"
}
CATALOG = Catalog.load()
API_TO_OPTION = {v: k for k, v in OPTION_FIELDS.items()}
IMG = "https://cdn.discordapp.com/attachments/1/2/cat.png"


def prepare(model: str, images: int = 0, nsfw: bool = False, **options: Any):  # type: ignore[no-untyped-def]
    return CATALOG.prepare(
        GenerationRequest(model, "a red fox in snow", options, [IMG] * images, nsfw_channel=nsfw)
    )


def test_every_upstream_model_is_in_the_catalogue() -> None:
    assert set(UPSTREAM) <= {m.id for m in CATALOG.all()}
    assert len(UPSTREAM) == 39


@pytest.mark.parametrize("model_id", sorted(UPSTREAM))
def test_catalogue_agrees_with_upstream(model_id: str) -> None:
    """Media kind, image field and every documented enum/range match the contract."""
    model = CATALOG.get(model_id)
    upstream = UPSTREAM[model_id]
    assert model.media == upstream["media"]
    up_images = upstream.get("image_urls")
    if up_images is None:
        assert model.images is None
    else:
        assert model.images is not None
        assert model.images.field == up_images["field"]
        if up_images.get("max") is not None:
            assert model.images.max is not None
            assert model.images.max <= up_images["max"]
    for name, spec in model.options.items():
        up = upstream["inputs"].get(name)
        assert up is not None, f"{model_id} sends {name}, which upstream does not list"
        if "values" in up and spec.values is not None:
            assert set(spec.values) <= set(up["values"]), name
        if up.get("max") is not None:
            assert spec.max is not None and spec.max <= up["max"]


# Every (model, option, value) the catalogue allows, each becoming exactly that field.
ALLOWED = [
    (m.id, name, value)
    for m in CATALOG.all()
    for name, spec in m.options.items()
    for value in (spec.values if spec.values is not None else (spec.min, spec.max))
]


@pytest.mark.parametrize(("model_id", "api_name", "value"), ALLOWED)
def test_every_allowed_value_is_sent_verbatim(model_id: str, api_name: str, value: Any) -> None:
    model = CATALOG.get(model_id)
    images = 0
    if model.needs_images:
        images = model.images.min if model.images else 0
    options: dict[str, Any] = {API_TO_OPTION[api_name]: value}
    # Some values only make sense with a compatible partner (rules, modes).
    if model.family == "gpt-image-2" and api_name == "resolution" and value == "4k":
        options["ratio"] = "16:9"
    if model.family == "gpt-image-2" and api_name == "ratio":
        options["resolution"] = "2k"
    if model.family == "veo3" and api_name == "mode":
        images = {"i2v": 1, "i2v-fl": 2, "r2v": 3}[value]
        if value in ("r2v", "i2v"):
            options["duration"] = 8
    if model.family == "veo3" and api_name == "duration" and model.id == "veo3":
        images = 0
    prepared = prepare(model_id, images=images, nsfw=True, **options)
    assert prepared.input[api_name] == value
    assert prepared.input["prompt"] == "a red fox in snow"


FORBIDDEN = [
    (m.id, name, "9:7" if not spec.is_integer else (spec.max or max(spec.values or [1])) + 1)
    for m in CATALOG.all()
    for name, spec in m.options.items()
    if name != "mode"
] + [(m.id, "mode", "turbo") for m in CATALOG.all() if m.option("mode")]


@pytest.mark.parametrize(("model_id", "api_name", "value"), FORBIDDEN)
def test_a_forbidden_value_is_refused_with_the_allowed_ones(
    model_id: str, api_name: str, value: Any
) -> None:
    model = CATALOG.get(model_id)
    spec = model.options[api_name]
    images = model.images.min if model.images else 0
    with pytest.raises(ValidationError) as info:
        prepare(model_id, images=images, **{API_TO_OPTION[api_name]: value})
    assert spec.allowed_text() in str(info.value)


ABSENT = [
    (m.id, opt)
    for m in CATALOG.all()
    for opt, api in OPTION_FIELDS.items()
    if m.option(api) is None and api != "n"
]


@pytest.mark.parametrize(("model_id", "option"), ABSENT)
def test_a_field_the_model_refuses_is_never_sent(model_id: str, option: str) -> None:
    model = CATALOG.get(model_id)
    images = model.images.min if model.images else 0
    value = {"ratio": "16:9", "resolution": "4k", "duration": 8, "mode": "normal"}[option]
    with pytest.raises(ValidationError) as info:
        prepare(model_id, images=images, **{option: value})
    assert model_id in str(info.value)


@pytest.mark.parametrize(
    ("model_id", "options", "message"),
    [
        ("veo3_lite", {"resolution": "4k"}, "veo3_lite has no 4k: it is 720p only."),
        ("grok-imagine/text-to-image-lite", {"ratio": "16:9"}, "takes no ratio"),
        ("gpt-image-2/text-to-image", {"resolution": "4k", "ratio": "1:1"}, "wide ratio"),
        ("gpt-image-2/text-to-image", {"resolution": "4k"}, "wide ratio"),
        ("nano-banana", {"resolution": "2k"}, "fixed at 1K"),
        ("nano-banana", {"count": 2}, "one result per job"),
    ],
)
def test_documented_refusals_say_what_is_allowed(
    model_id: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        prepare(model_id, **options)


def test_count_one_on_a_model_without_n_sends_nothing() -> None:
    assert "n" not in prepare("nano-banana", count=1).input


def test_veo_modes_follow_image_count_and_rules() -> None:
    assert prepare("veo3_fast").mode == "t2v"
    assert prepare("veo3_fast", images=1).mode == "i2v"
    assert prepare("veo3_fast", images=2).mode == "i2v-fl"
    assert prepare("veo3_fast", images=3).mode == "r2v"
    assert "mode" not in prepare("veo3_fast", images=3).input  # inferred, not sent
    assert prepare("veo3_fast", images=1, mode="r2v").input["mode"] == "r2v"
    with pytest.raises(ValidationError, match="8 seconds only"):
        prepare("veo3_fast", images=3, duration=4)
    with pytest.raises(ValidationError, match="8 seconds only"):
        prepare("veo3", images=1, mode="r2v", duration=6)
    with pytest.raises(ValidationError, match="8-second"):
        prepare("veo3", images=1, duration=4)
    assert prepare("veo3_fast", images=1, duration=4).input["duration"] == 4
    assert prepare("veo3", images=2, duration=4).input["duration"] == 4
    with pytest.raises(ValidationError, match="cannot be upscaled"):
        prepare("veo3_fast", images=1, resolution="1080p")
    with pytest.raises(ValidationError, match="needs 2 images"):
        prepare("veo3_fast", images=1, mode="i2v-fl")
    with pytest.raises(ValidationError, match="at most 2 images"):
        prepare("veo3_lite", images=3)
    with pytest.raises(ValidationError, match="mode"):
        prepare("veo3_lite", images=1, mode="r2v")


@pytest.mark.parametrize(
    ("model_id", "most"),
    [
        ("seedance-1.5-pro", 2),
        ("seedance-2.0", 9),
        ("grok-imagine/image-to-image", 2),
        ("grok-imagine/image-to-video", 5),
        ("veo3", 3),
    ],
)
def test_image_count_limits(model_id: str, most: int) -> None:
    field = CATALOG.get(model_id).images
    assert field is not None
    assert prepare(model_id, images=most).input[field.field] == [IMG] * most
    with pytest.raises(ValidationError, match=f"at most {most} image"):
        prepare(model_id, images=most + 1)


@pytest.mark.parametrize(
    ("model_id", "field"),
    [
        ("seedream-4.5", "imageUrls"),
        ("nano-banana-pro", "imageUrls"),
        ("jimeng-4.5", "images"),
        ("jimeng-video-3.0", "imageUrls"),
        ("seedance-2.0-fast", "mediaUrls"),
    ],
)
def test_attachments_go_in_the_family_field(model_id: str, field: str) -> None:
    prepared = prepare(model_id, images=1)
    assert prepared.model.id == model_id
    assert prepared.input[field] == [IMG]


@pytest.mark.parametrize(
    ("model_id", "variant"),
    [
        ("gpt-image-2/text-to-image", "gpt-image-2/image-to-image"),
        ("grok-imagine/text-to-image-lite", "grok-imagine/image-to-image"),
        ("grok-imagine/text-to-image-pro", "grok-imagine/image-to-image"),
        ("grok-imagine/text-to-video", "grok-imagine/image-to-video"),
    ],
)
def test_image_input_variants_are_chosen_automatically(model_id: str, variant: str) -> None:
    prepared = prepare(model_id, images=1)
    assert prepared.model.id == variant
    assert prepared.input["imageUrls"] == [IMG]


@pytest.mark.parametrize(
    "model_id",
    ["grok-imagine/image-to-image", "gpt-image-2/image-to-image", "grok-imagine/image-to-video"],
)
def test_image_only_models_need_an_image(model_id: str) -> None:
    with pytest.raises(ValidationError, match="needs at least 1 image"):
        prepare(model_id)


def test_text_only_model_refuses_attachments() -> None:
    # seedream takes images; nothing text-only without a variant exists except via override
    catalog = Catalog.from_document(
        {"models": {"t": {"family": "f", "media": "image", "price": {"per": "job", "usd": 1}}}}
    )
    with pytest.raises(ValidationError, match="does not take images"):
        catalog.prepare(GenerationRequest("t", "x", image_urls=[IMG]))


def test_adult_mode_only_in_age_restricted_channels() -> None:
    with pytest.raises(ValidationError, match="age-restricted"):
        prepare("grok-imagine/text-to-video", mode="spicy")
    assert prepare("grok-imagine/text-to-video", nsfw=True, mode="spicy").input["mode"] == "spicy"
    assert prepare("grok-imagine/text-to-video", mode="fun").input["mode"] == "fun"


@pytest.mark.parametrize("prompt", ["", "   ", "x" * 4001])
def test_prompt_empty_or_too_long(prompt: str) -> None:
    with pytest.raises(ValidationError, match="prompt"):
        CATALOG.prepare(GenerationRequest("nano-banana", prompt))


def test_unknown_and_disabled_models() -> None:
    with pytest.raises(ValidationError, match="Unknown model"):
        prepare("dall-e-3")
    doc = json.loads((Path(__file__).parents[2] / "bot/data/catalog.json").read_text())
    doc["models"]["nano-banana"]["enabled"] = False
    catalog = Catalog.from_document(doc)
    with pytest.raises(ValidationError, match="Unknown model"):
        catalog.prepare(GenerationRequest("nano-banana", "x"))
    assert "nano-banana" not in {m.id for m in catalog.enabled()}


def test_options_are_normalised() -> None:
    prepared = prepare("gpt-image-2/text-to-image", resolution="2K", count="3", ratio="16:9")
    assert prepared.input == {
        "prompt": "a red fox in snow",
        "resolution": "2k",
        "n": 3,
        "ratio": "16:9",
    }


def test_only_chosen_options_and_valid_guild_defaults_are_sent() -> None:
    assert prepare("seedream-4.5").input == {"prompt": "a red fox in snow"}
    request = GenerationRequest(
        "nano-banana",
        "x",
        guild_defaults={"ratio": "21:9", "resolution": "2k", "count": 2},
    )
    assert CATALOG.prepare(request).input == {"prompt": "x"}  # none valid for nano-banana
    request = GenerationRequest(
        "nano-banana-2", "x", {"ratio": "1:1"}, guild_defaults={"ratio": "16:9", "resolution": "2k"}
    )
    assert CATALOG.prepare(request).input == {"prompt": "x", "ratio": "1:1", "resolution": "2k"}


# -- prices ---------------------------------------------------------------------------

DOCUMENTED_PRICES = [
    ("grok-imagine/text-to-image-lite", {"count": 1}, 0, 0.001),
    ("grok-imagine/text-to-image-lite", {"count": 4}, 0, 0.004),
    ("grok-imagine/text-to-image-standard", {"count": 10}, 0, 0.012),
    ("grok-imagine/text-to-image-pro", {"count": 2}, 0, 0.003),
    ("grok-imagine/image-to-image", {}, 1, 0.015),
    ("grok-imagine/text-to-video", {"duration": 10}, 0, 0.07),
    ("grok-imagine/text-to-video", {"duration": 6}, 0, 0.042),
    ("grok-imagine/image-to-video", {"duration": 20}, 2, 0.14),
    ("gpt-image-2/text-to-image", {"resolution": "1k"}, 0, 0.02),
    ("gpt-image-2/text-to-image", {}, 0, 0.02),
    ("gpt-image-2/text-to-image", {"resolution": "2k", "count": 3}, 0, 0.12),
    ("gpt-image-2/image-to-image", {"resolution": "4k", "ratio": "21:9", "count": 10}, 1, 0.6),
]


@pytest.mark.parametrize(("model_id", "options", "images", "usd"), DOCUMENTED_PRICES)
def test_documented_prices_are_exact(
    model_id: str, options: dict[str, Any], images: int, usd: float
) -> None:
    prepared = prepare(model_id, images=images, **options)
    assert prepared.price_usd == pytest.approx(usd)
    assert prepared.price_documented is True


def test_unknown_factors_are_estimated_at_the_expensive_end() -> None:
    no_duration = prepare("grok-imagine/text-to-video")
    assert no_duration.price_usd == pytest.approx(20 * 0.007)
    assert no_duration.price_documented is False
    veo = prepare("veo3")
    assert veo.price_usd == pytest.approx(8 * 0.40)  # documented default duration 8
    assert veo.price_documented is False  # the unit price is an estimate


@pytest.mark.parametrize("model", CATALOG.all(), ids=lambda m: m.id)
def test_every_model_has_a_positive_price_and_time(model: Any) -> None:
    images = model.images.min if model.images else 0
    prepared = prepare(model.id, images=images)
    assert prepared.price_usd > 0
    assert model.typical_seconds > 0
    assert model.max_seconds > model.typical_seconds
    assert model.price.documented == (model.family in ("grok-imagine", "gpt-image-2"))


def test_outputs_count_images_for_quota() -> None:
    assert prepare("seedream-4.5", count=4).outputs == 4
    assert prepare("seedream-4.5").outputs == 1
    assert prepare("jimeng-4.5").outputs == 4
    assert prepare("veo3").outputs == 1


# -- operator overrides -----------------------------------------------------------------


def test_operator_override_changes_price_and_adds_models(tmp_path: Path) -> None:
    override = tmp_path / "catalog.json"
    override.write_text(
        json.dumps(
            {
                "models": {
                    "veo3": {"price": {"per": "second", "usd": 0.25, "documented": True}},
                    "jimeng-1.4": {"enabled": False},
                    "new-model": {
                        "family": "seedream",
                        "media": "image",
                        "price": {"per": "image", "usd": 0.01},
                    },
                },
                "defaults": {"prompt_max_chars": 100},
            }
        )
    )
    catalog = Catalog.load(override)
    assert catalog.prepare(GenerationRequest("veo3", "x")).price_usd == pytest.approx(2.0)
    assert "jimeng-1.4" not in {m.id for m in catalog.enabled()}
    assert catalog.get("new-model").label == "new-model"
    assert catalog.get("veo3").label == "Veo 3.1 Quality"  # untouched keys kept
    with pytest.raises(ValidationError, match="limit is 100"):
        catalog.prepare(GenerationRequest("veo3", "x" * 101))


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"models": {"a": {"extends": "b"}}},
        {"models": {"a": {"extends": "a"}}},
        {"models": {"a": {"family": "f", "media": "image"}}},
        {"models": {"a": {"family": "f", "media": "image", "price": {"per": "minute", "usd": 1}}}},
        {
            "models": {
                "a": {
                    "family": "f",
                    "media": "image",
                    "price": {"per": "job", "usd": 1},
                    "options": {"ratio": {}},
                }
            }
        },
        {
            "models": {
                "a": {
                    "family": "f",
                    "media": "image",
                    "price": {"per": "job", "usd": 1},
                    "with_images": "zzz",
                }
            }
        },
    ],
)
def test_malformed_catalogues_raise_catalog_error(doc: dict[str, Any]) -> None:
    with pytest.raises(CatalogError):
        Catalog.from_document(doc)


def test_default_models_exist() -> None:
    assert CATALOG.get(CATALOG.default_model("image")).media == "image"
    assert CATALOG.get(CATALOG.default_model("video")).media == "video"


def test_values_taken_joins_every_model_in_order_and_filters_what_was_typed() -> None:
    catalog = Catalog.load()
    ratios = catalog.values_taken("ratio")
    assert len(ratios) == len(set(ratios)) and {"1:1", "16:9", "9:16"} <= set(ratios)
    assert catalog.values_taken("ratio", " 16:") == [r for r in ratios if "16:" in r]
    assert (
        catalog.values_taken("resolution", "k", limit=2)
        == [r for r in catalog.values_taken("resolution") if "k" in r.lower()][:2]
    )
