"""The generation commands' options come from the catalogue: the contract's names and
order, static choices for exactly what a family accepts, and the model each runs."""

from __future__ import annotations

from typing import Any

import pytest

from bot.discord_io.command_specs import (
    MAX_CHOICES,
    CommandSpec,
    accepts,
    command_specs,
    effective_model,
    model_choices,
    model_for_values,
    model_label,
    resolve_model,
    value_choices,
    variants,
)
from bot.domain.catalog import Catalog, ValidationError


@pytest.fixture(scope="module")
def specs(catalog: Catalog) -> dict[str, CommandSpec]:
    return {s.name: s for s in command_specs(catalog)}


def names(spec: CommandSpec) -> list[str]:
    return [o.name for o in spec.options]


def choices(spec: CommandSpec, option: str) -> list[Any]:
    found = spec.option(option)
    assert found is not None, f"/{spec.name} has no {option}"
    return [c.value for c in found.choices]


def test_the_command_surface_is_the_contract(specs: dict[str, CommandSpec]) -> None:
    assert set(specs) == {
        "imagine",
        "video",
        "seedream",
        "nanobanana",
        "gptimage",
        "jimeng",
        "grok",
        "veo",
        "seedance",
    }
    assert names(specs["imagine"]) == [
        "prompt",
        "model",
        "ratio",
        "resolution",
        "count",
        "image",
        "image2",
        "style",
        # issue 17: up to the most images a model takes (Seedream: 10), after the old ones
        *(f"image{n}" for n in range(3, 11)),
    ]
    assert names(specs["video"]) == [
        "prompt",
        "model",
        "image",
        "image2",
        "image3",
        "ratio",
        "resolution",
        "duration",
        "mode",
        "style",
        *(f"image{n}" for n in range(4, 10)),  # Seedance 2.0 takes 9
        "video",
        "video2",
        "audio",
        "audio2",
    ]
    assert names(specs["seedance"])[5:] == [
        *("image", "image2", *(f"image{n}" for n in range(3, 10))),
        *("video", "video2", "audio", "audio2", "style"),
    ]
    assert "@1, @2" in specs["seedance"].options[0].description
    assert specs["nanobanana"].image_options == ("image", "image2", "image3", "image4", "image5")
    assert specs["video"].attachment_options("audio") == ("audio", "audio2")
    assert specs["veo"].attachment_options("video") == ()
    for spec in specs.values():
        assert spec.options[0].name == "prompt" and spec.options[0].required
        assert all(not o.required for o in spec.options[1:])
        assert len(spec.options) <= 25 and len(spec.description) <= 100
        for option in spec.options:
            assert len(option.choices) <= MAX_CHOICES and len(option.description) <= 100
            assert all(len(c.name) <= 100 for c in option.choices)


def test_imagine_and_video_cover_their_media_with_autocomplete(
    catalog: Catalog, specs: dict[str, CommandSpec]
) -> None:
    imagine, video = specs["imagine"], specs["video"]
    assert set(imagine.models) == {m.id for m in catalog.enabled("image")}
    assert set(video.models) == {m.id for m in catalog.enabled("video")}
    for spec in (imagine, video):
        model = spec.option("model")
        assert model is not None and model.autocomplete and not model.choices
    count = imagine.option("count")
    assert count is not None and (count.min_value, count.max_value) == (1, 15)
    duration = video.option("duration")
    assert duration is not None and (duration.min_value, duration.max_value) == (4, 20)
    prompt = imagine.option("prompt")
    assert prompt is not None and prompt.max_length == catalog.prompt_max_chars


def test_variants_are_run_but_not_offered(catalog: Catalog, specs: dict[str, CommandSpec]) -> None:
    hidden = variants(catalog)
    assert hidden == {
        "grok-imagine/image-to-image",
        "grok-imagine/image-to-video",
        "gpt-image-2/image-to-image",
    }
    grok = specs["grok"]
    assert "grok-imagine/image-to-image" in grok.models
    assert choices(grok, "model") == [
        "grok-imagine/text-to-image-lite",
        "grok-imagine/text-to-image-standard",
        "grok-imagine/text-to-image-pro",
        "grok-imagine/text-to-video",
    ]
    assert choices(specs["gptimage"], "model") == ["gpt-image-2/text-to-image"]


def test_family_choices_are_exactly_what_the_family_accepts(
    specs: dict[str, CommandSpec],
) -> None:
    veo = specs["veo"]
    assert choices(veo, "duration") == [4, 6, 8]
    assert choices(veo, "ratio") == ["16:9", "9:16"]
    assert choices(veo, "resolution") == ["1080p", "4k"]
    assert choices(veo, "mode") == ["i2v", "i2v-fl", "r2v"]
    assert veo.option("count") is None
    assert veo.image_options == ("image", "image2", "image3")

    grok = specs["grok"]
    assert choices(grok, "mode") == ["fun", "normal", "spicy", "custom"]
    spicy = next(c for c in grok.option("mode").choices if c.value == "spicy")  # type: ignore[union-attr]
    assert "age-restricted" in spicy.name
    assert choices(grok, "duration") == [6, 10, 12, 16, 20]
    assert choices(grok, "resolution") == ["480p", "720p", "1080p"]

    gpt = specs["gptimage"]
    assert choices(gpt, "ratio") == [
        "1:1",
        "3:2",
        "2:3",
        "4:3",
        "3:4",
        "5:4",
        "4:5",
        "16:9",
        "9:16",
        "2:1",
        "1:2",
        "21:9",
        "9:21",
    ]
    count = gpt.option("count")
    assert count is not None and (count.min_value, count.max_value) == (1, 10)

    assert choices(specs["seedance"], "duration") == list(range(4, 16))
    nano = specs["nanobanana"]
    assert nano.option("count") is None and nano.option("duration") is None
    assert choices(nano, "ratio") == ["16:9", "9:16", "1:1", "4:3", "3:4"]
    assert choices(specs["jimeng"], "duration") == [5, 10]
    assert specs["jimeng"].media == ("image", "video")


def test_a_new_model_in_the_catalogue_shows_up_in_its_command(catalog: Catalog) -> None:
    doc: dict[str, Any] = {
        "families": {"veo3": {"label": "Veo 3", "command": "veo"}},
        "models": {
            "veo9": {
                "label": "Veo 9",
                "family": "veo3",
                "media": "video",
                "options": {"duration": {"values": [3, 12]}},
                "price": {"per": "second", "usd": 0.1},
            }
        },
    }
    spec = {s.name: s for s in command_specs(Catalog.from_document(doc))}["veo"]
    assert choices(spec, "model") == ["veo9"]
    assert choices(spec, "duration") == [3, 12]
    assert spec.image_options == ()


def test_resolve_model_prefers_what_was_named(
    catalog: Catalog, specs: dict[str, CommandSpec]
) -> None:
    imagine = specs["imagine"]
    model = resolve_model(
        catalog, imagine, "seedream-4", options={}, image_count=0, preferred=["nano-banana-2"]
    )
    assert model.id == "seedream-4"
    with pytest.raises(ValidationError, match=r"/imagine does not run veo3: use /video or /veo"):
        resolve_model(catalog, imagine, "veo3", options={}, image_count=0)
    with pytest.raises(ValidationError, match="/veo does not run nano-banana-2"):
        resolve_model(catalog, specs["veo"], "nano-banana-2", options={}, image_count=0)
    with pytest.raises(ValidationError, match="Unknown model"):
        resolve_model(catalog, imagine, "dall-e-9", options={}, image_count=0)


def test_generic_commands_run_the_default_even_if_it_refuses_an_option(
    catalog: Catalog, specs: dict[str, CommandSpec]
) -> None:
    # /imagine never swaps models behind the member's back: the catalogue then explains.
    model = resolve_model(
        catalog,
        specs["imagine"],
        None,
        options={"count": 4},
        image_count=0,
        preferred=[None, "nano-banana-2"],
    )
    assert model.id == "nano-banana-2"
    model = resolve_model(
        catalog,
        specs["imagine"],
        None,
        options={},
        image_count=0,
        preferred=["seedream-4.5", "nano-banana-2"],
    )
    assert model.id == "seedream-4.5"  # the server's default comes first


@pytest.mark.parametrize(
    ("options", "images", "expected"),
    [
        ({}, 0, "grok-imagine/text-to-image-lite"),
        ({"ratio": "16:9"}, 0, "grok-imagine/text-to-image-standard"),
        ({"duration": 10}, 0, "grok-imagine/text-to-video"),
        ({"mode": "spicy"}, 0, "grok-imagine/text-to-video"),
        ({}, 1, "grok-imagine/text-to-image-lite"),  # runs as image-to-image
        ({"resolution": "480p"}, 0, "grok-imagine/text-to-video"),
    ],
)
def test_family_commands_pick_the_first_model_that_takes_the_options(
    catalog: Catalog,
    specs: dict[str, CommandSpec],
    options: dict[str, Any],
    images: int,
    expected: str,
) -> None:
    model = resolve_model(
        catalog,
        specs["grok"],
        None,
        options=options,
        image_count=images,
        preferred=[None, "nano-banana-2"],
    )
    assert model.id == expected


def test_family_default_follows_the_catalogue_default(
    catalog: Catalog, specs: dict[str, CommandSpec]
) -> None:
    model = resolve_model(
        catalog, specs["veo"], None, options={}, image_count=0, preferred=[None, "veo3_fast"]
    )
    assert model.id == "veo3_fast"
    # The server prefers veo3_lite, but it has no 4k: the first Veo that does runs.
    model = resolve_model(
        catalog,
        specs["veo"],
        None,
        options={"resolution": "4k"},
        image_count=2,
        preferred=["veo3_lite"],
    )
    assert model.id == "veo3"


def test_effective_model_and_accepts(catalog: Catalog) -> None:
    lite = catalog.get("grok-imagine/text-to-image-lite")
    assert effective_model(catalog, lite, 0) is lite
    assert effective_model(catalog, lite, 1).id == "grok-imagine/image-to-image"
    assert accepts(catalog, lite, {"count": 3}, 0)
    assert not accepts(catalog, lite, {"count": 3}, 1)  # image-to-image makes one
    assert accepts(catalog, lite, {"count": 1}, 1)
    assert not accepts(catalog, lite, {"count": 3}, 3)  # i2i takes at most 2 images
    assert not accepts(catalog, catalog.get("grok-imagine/image-to-image"), {}, 0)
    assert accepts(catalog, catalog.get("nano-banana-2"), {"ratio": "4:3"}, 0)
    assert not accepts(catalog, catalog.get("nano-banana"), {"ratio": "4:3"}, 0)


def test_model_autocomplete(catalog: Catalog, specs: dict[str, CommandSpec]) -> None:
    found = model_choices(catalog, specs["imagine"], "seed")
    assert [c.value for c in found] == [
        "seedream-5-lite",
        "seedream-4.6",
        "seedream-4.5",
        "seedream-4",
    ]
    assert found[0].name == "Seedream 5 Lite · seedream-5-lite · $0.04/image"
    assert [c.value for c in model_choices(catalog, specs["imagine"], "BANANA 2")] == [
        "nano-banana-2"
    ]
    everything = model_choices(catalog, specs["imagine"], "")
    assert 0 < len(everything) <= MAX_CHOICES
    assert "gpt-image-2/image-to-image" not in {c.value for c in everything}
    allowed = model_choices(catalog, specs["video"], "", allowed=lambda m: m.startswith("veo"))
    assert [c.value for c in allowed] == ["veo3", "veo3_fast", "veo3_lite"]


def test_value_autocomplete_follows_the_model(catalog: Catalog) -> None:
    gpt = catalog.get("gpt-image-2/text-to-image")
    assert [c.value for c in value_choices(gpt, "ratio", "")][:3] == ["1:1", "3:2", "2:3"]
    assert [c.value for c in value_choices(gpt, "ratio", "21")] == ["21:9", "9:21"]
    veo = catalog.get("veo3")
    assert [(c.name, c.value) for c in value_choices(veo, "duration", "")] == [
        ("4 s", 4),
        ("6 s", 6),
        ("8 s", 8),
    ]
    assert [c.value for c in value_choices(veo, "mode", "last")] == ["i2v-fl"]
    seedance = catalog.get("seedance-2.0")
    assert [c.value for c in value_choices(seedance, "duration", "")] == list(range(4, 16))
    assert value_choices(catalog.get("nano-banana"), "resolution", "") == []


def test_value_autocomplete_reads_the_chosen_model_else_the_default(
    catalog: Catalog, specs: dict[str, CommandSpec]
) -> None:
    def chosen(command: str, model: str | None) -> str | None:
        found = model_for_values(catalog, specs[command], model)
        return found.id if found else None

    assert chosen("veo", " veo3_lite ") == "veo3_lite"
    assert chosen("veo", None) == "veo3_fast"  # the catalogue's default video model
    assert chosen("imagine", "veo3") == "nano-banana-2"  # not an /imagine model
    assert chosen("grok", "") == "grok-imagine/text-to-image-lite"  # the family's first


def test_model_label_fits_a_choice(catalog: Catalog) -> None:
    for model in catalog.all():
        assert len(model_label(model)) <= 100
    assert model_label(catalog.get("gpt-image-2/text-to-image")).endswith("from $0.02/image")
    assert model_label(catalog.get("veo3")).endswith("$0.4/s")
