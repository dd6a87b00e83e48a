"""Per-model validation: what every family accepts, and readable 400s for what it doesn't."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from simkit import running

from simulator import ApiError, SimulatorConfig
from simulator.catalog import load_models, typical_seconds
from simulator.validation import MODERATION_CATEGORIES, validate_submit

MODELS = load_models()
CONFIG = SimulatorConfig()
IMG = "https://cdn.example.com/a.png"
SHARED_MODELS = Path(__file__).resolve().parents[3] / "shared" / "maxapi" / "models.json"


def check(model: str, callback: str | None = None, **params: Any) -> None:
    body: dict[str, Any] = {"model": model, "input": {"prompt": "a lighthouse", **params}}
    if callback is not None:
        body["callBackUrl"] = callback
    validate_submit(body, MODELS, CONFIG)


def refused(body: Any, config: SimulatorConfig = CONFIG) -> ApiError:
    with pytest.raises(ApiError) as info:
        validate_submit(body, MODELS, config)
    assert info.value.code == 400
    return info.value


def refused_input(model: str, **params: Any) -> str:
    params.setdefault("prompt", "a lighthouse")
    return refused({"model": model, "input": params}).msg


VALID = [
    ("seedream-5-lite", {"ratio": "21:9", "resolution": "4k", "n": 4}),
    ("seedream-4.5", {"imageUrls": [IMG], "ratio": "16:9", "resolution": "2k"}),
    ("seedream-4", {"imageUrls": [{"url": IMG}], "n": 15}),
    ("seedream-4.6", {"n": 20}),
    ("veo3", {"ratio": "9:16", "resolution": "4k", "duration": 4}),
    ("veo3", {"imageUrls": [IMG]}),
    ("veo3", {"imageUrls": [IMG, IMG], "duration": 6}),
    ("veo3", {"imageUrls": [IMG, IMG, IMG], "duration": 8}),
    ("veo3_fast", {"imageUrls": [IMG], "duration": 4}),
    ("veo3_fast", {"imageUrls": [IMG], "mode": "r2v"}),
    ("veo3_lite", {"imageUrls": [IMG, IMG], "mode": "i2v-fl", "duration": 4}),
    ("nano-banana", {"ratio": "9:16", "resolution": "1k"}),
    ("nano-banana-2", {"ratio": "4:3", "resolution": "4k", "imageUrls": [IMG, IMG]}),
    ("nano-banana-pro", {"ratio": "1:1"}),
    ("grok-imagine/text-to-image-lite", {"n": 4}),
    ("grok-imagine/text-to-image-standard", {"n": 10, "ratio": "9:16", "resolution": "1080p"}),
    ("grok-imagine/text-to-image-pro", {"ratio": "1:1", "resolution": "720p"}),
    ("grok-imagine/image-to-image", {"imageUrls": [IMG, IMG]}),
    ("grok-imagine/text-to-video", {"duration": 20, "ratio": "16:9", "mode": "spicy"}),
    ("grok-imagine/image-to-video", {"imageUrls": [IMG] * 5, "resolution": "480p"}),
    ("gpt-image-2/text-to-image", {"ratio": "21:9", "resolution": "4k", "n": 10}),
    ("gpt-image-2/text-to-image", {"ratio": "1:1", "resolution": "2k"}),
    ("gpt-image-2/image-to-image", {"imageUrls": [IMG], "n": 3}),
    ("seedance-2.0", {"mediaUrls": [IMG] * 9 + ["https://x/clip.mp4", "https://x/a.mp3"]}),
    ("seedance-2.0-fast", {"duration": 15, "resolution": "1080p", "fallback": True}),
    ("seedance-1.5-pro", {"mediaUrls": [IMG, IMG], "duration": 10, "ratio": "3:4"}),
    ("jimeng-4.5", {"ratio": "16:9", "resolution": "2k"}),
    ("jimeng-5.0-preview", {"images": [IMG]}),
    ("jimeng-video-3.0", {"imageUrls": [IMG, IMG, IMG], "duration": 5}),
    ("seedance-2.0-pro", {"ratio": "16:9", "duration": 5}),
]


@pytest.mark.parametrize(
    ("model", "params"), VALID, ids=[f"{m}-{i}" for i, (m, _) in enumerate(VALID)]
)
def test_valid_requests_pass(model: str, params: dict[str, Any]) -> None:
    check(model, **params)


def test_the_docs_examples_pass() -> None:
    validate_submit(
        {
            "model": "grok-imagine/text-to-image-lite",
            "callBackUrl": "https://example.com/webhook",
            "input": {"prompt": "A cyberpunk samurai in neon Tokyo rain", "n": 2},
        },
        MODELS,
        CONFIG,
    )
    check("veo3", callback="https://example.com/webhook", ratio="16:9", imageUrls=[IMG])
    check("jimeng-4.5", ratio="16:9", resolution="2k")


INVALID = [
    # (model, input, words that must appear in the message)
    ("grok-imagine/text-to-image-lite", {"ratio": "1:1"}, ["ratio", "not accepted"]),
    ("grok-imagine/text-to-image-lite", {"resolution": "720p"}, ["resolution", "not accepted"]),
    ("grok-imagine/text-to-image-lite", {"n": 5}, ["between 1 and 4"]),
    ("grok-imagine/text-to-image-pro", {"n": 0}, ["between 1 and 10"]),
    ("grok-imagine/text-to-image-pro", {"ratio": "4:3"}, ["'4:3'", "1:1, 16:9, 9:16"]),
    ("grok-imagine/text-to-image-pro", {"imageUrls": [IMG]}, ["grok-imagine/image-to-image"]),
    ("grok-imagine/image-to-image", {}, ["needs reference images", "imageUrls"]),
    ("grok-imagine/image-to-image", {"imageUrls": [IMG] * 3}, ["at most 2"]),
    ("grok-imagine/image-to-image", {"ratio": "1:1"}, ["ratio", "not accepted"]),
    ("grok-imagine/image-to-video", {"imageUrls": [IMG] * 6}, ["at most 5"]),
    ("grok-imagine/text-to-video", {"duration": 8}, ["duration", "6, 10, 12, 16, 20"]),
    ("grok-imagine/text-to-video", {"mode": "crazy"}, ["mode", "fun, normal, spicy, custom"]),
    ("grok-imagine/text-to-video", {"resolution": "1080p"}, ["480p, 720p"]),
    ("seedream-5-lite", {"n": 5}, ["between 1 and 4"]),
    ("seedream-4.5", {"n": 16}, ["between 1 and 15"]),
    ("seedream-4.5", {"ratio": "5:4"}, ["ratio", "'5:4'"]),
    ("seedream-4.5", {"resolution": "8k"}, ["resolution"]),
    ("seedream-4.5", {"imageUrls": []}, ["at least 1", "leave it out"]),
    ("seedream-4.5", {"images": [IMG]}, ["input.imageUrls, not input.images"]),
    ("seedream-4.5", {"mediaUrls": [IMG]}, ["input.imageUrls, not input.mediaUrls"]),
    ("seedream-4.5", {"imageUrls": ["ftp://x/y.png"]}, ["imageUrls[0]", "http"]),
    ("seedream-4.5", {"imageUrls": "https://x/y.png"}, ["array"]),
    ("seedream-4.5", {"n": "2"}, ["integer"]),
    ("seedream-4.5", {"n": True}, ["integer"]),
    ("seedream-4.5", {"style": "anime"}, ["style", "not accepted", "accepted: prompt"]),
    ("jimeng-4.5", {"imageUrls": [IMG]}, ["input.images, not input.imageUrls"]),
    ("jimeng-4.5", {"n": 2}, ["n", "not accepted"]),
    ("jimeng-video-3.0", {"duration": 0}, ["positive"]),
    ("nano-banana", {"ratio": "1:1"}, ["'1:1'", "16:9, 9:16"]),
    ("nano-banana", {"resolution": "2k"}, ["'2k'"]),
    ("nano-banana-pro", {"n": 2}, ["n", "not accepted"]),
    ("gpt-image-2/text-to-image", {"ratio": "1:1", "resolution": "4k"}, ["4k", "16:9, 9:16"]),
    (
        "gpt-image-2/image-to-image",
        {"imageUrls": [IMG], "ratio": "3:2", "resolution": "4k"},
        ["4k"],
    ),
    ("gpt-image-2/image-to-image", {}, ["imageUrls", "required"]),
    ("gpt-image-2/text-to-image", {"imageUrls": [IMG]}, ["gpt-image-2/image-to-image"]),
    ("gpt-image-2/text-to-image", {"n": 11}, ["between 1 and 10"]),
    ("veo3_lite", {"resolution": "1080p"}, ["veo3_lite", "resolution"]),
    ("veo3_lite", {"imageUrls": [IMG] * 3}, ["no r2v"]),
    ("veo3_lite", {"imageUrls": [IMG], "mode": "r2v"}, ["no r2v"]),
    ("veo3", {"imageUrls": [IMG] * 3, "duration": 4}, ["r2v", "duration 8"]),
    ("veo3_fast", {"imageUrls": [IMG], "mode": "r2v", "duration": 6}, ["r2v", "duration 8"]),
    ("veo3", {"imageUrls": [IMG], "duration": 6}, ["veo3 single-image i2v", "duration 8"]),
    ("veo3", {"imageUrls": [IMG] * 4}, ["at most 3"]),
    ("veo3", {"mode": "i2v"}, ["needs images"]),
    ("veo3", {"imageUrls": [IMG, IMG], "mode": "i2v"}, ["exactly 1"]),
    ("veo3", {"imageUrls": [IMG], "mode": "i2v-fl"}, ["exactly 2"]),
    ("veo3", {"duration": 5}, ["4, 6, 8"]),
    ("veo3", {"ratio": "1:1"}, ["16:9, 9:16"]),
    ("veo3", {"images": [IMG]}, ["input.imageUrls, not input.images"]),
    ("seedance-2.0", {"imageUrls": [IMG]}, ["input.mediaUrls, not input.imageUrls"]),
    ("seedance-2.0", {"mediaUrls": [IMG] * 13}, ["at most 12"]),
    ("seedance-2.0", {"mediaUrls": [IMG] * 10}, ["at most 9 images"]),
    ("seedance-2.0", {"duration": 3}, ["between 4 and 15"]),
    ("seedance-2.0", {"duration": 16}, ["between 4 and 15"]),
    ("seedance-2.0-fast", {"fallback": "yes"}, ["boolean"]),
    ("seedance-1.5-pro", {"mediaUrls": [IMG] * 3}, ["at most 2"]),
    ("seedance-1.5-pro", {"mediaUrls": ["https://x/clip.mp4"]}, ["only image", "video"]),
    ("seedance-1.5-pro", {"duration": 6}, ["5, 10"]),
]


@pytest.mark.parametrize(
    ("model", "params", "words"), INVALID, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(INVALID)]
)
def test_invalid_requests_explain_themselves(
    model: str, params: dict[str, Any], words: list[str]
) -> None:
    message = refused_input(model, **params)
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("not an object", ["JSON object"]),
        ({"input": {"prompt": "x"}}, ["model is required"]),
        ({"model": 5, "input": {"prompt": "x"}}, ["model must be"]),
        ({"model": "seedream-45", "input": {"prompt": "x"}}, ["unknown model", "seedream-4.5"]),
        ({"model": "kling-2", "input": {"prompt": "x"}}, ["unknown model 'kling-2'"]),
        ({"model": "seedream-4"}, ["input is required"]),
        ({"model": "seedream-4", "input": "x"}, ["input must be an object"]),
        ({"model": "seedream-4", "input": {}}, ["prompt is required"]),
        ({"model": "seedream-4", "input": {"prompt": "  "}}, ["must not be empty"]),
        ({"model": "seedream-4", "input": {"prompt": 3}}, ["prompt must be a string"]),
        ({"model": "seedream-4", "input": {"prompt": "x"}, "user_id": 3}, ["user_id"]),
        (
            {"model": "seedream-4", "input": {"prompt": "x"}, "callbackUrl": "https://e.com"},
            ["unknown field 'callbackUrl'", "callBackUrl"],
        ),
        ({"model": "seedream-4", "input": {"prompt": "x"}, "callBackUrl": 1}, ["string"]),
        (
            {"model": "seedream-4", "input": {"prompt": "x"}, "callBackUrl": "/relative"},
            ["absolute http(s) URL"],
        ),
    ],
)
def test_request_shape_errors(body: Any, words: list[str]) -> None:
    message = refused(body).msg
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "https://api.localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest",
        "http://[::1]:9000/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",
    ],
)
def test_private_callbacks_are_refused_unless_allowed(url: str) -> None:
    body = {"model": "seedream-4", "input": {"prompt": "x"}, "callBackUrl": url}
    assert "publicly reachable" in refused(body).msg
    allowed = SimulatorConfig(allow_loopback_callbacks=True)
    assert validate_submit(body, MODELS, allowed).callback_url == url


def test_public_callback_is_accepted() -> None:
    for url in ("https://example.com/webhook", "http://93.184.216.34/hook"):
        body = {"model": "seedream-4", "input": {"prompt": "x"}, "callBackUrl": url}
        assert validate_submit(body, MODELS, CONFIG).callback_url == url


def test_moderation_rejects_the_trigger_word() -> None:
    error = refused({"model": "seedance-2.0", "input": {"prompt": "A Forbidden dance"}})
    assert error.msg == "content rejected by moderation"
    assert error.data is not None and error.data["flagged"] is True
    categories = error.data["categories"]
    assert list(categories) == list(MODERATION_CATEGORIES) and len(categories) == 13
    assert [name for name, hit in categories.items() if hit] == ["illicit"]
    # whole words only, and image URLs are screened too
    check("seedance-2.0", prompt="unforbiddenly calm")
    refused({"model": "seedream-4", "input": {"prompt": "x", "imageUrls": [IMG + "?forbidden"]}})


def test_moderation_words_are_configurable() -> None:
    config = SimulatorConfig(moderation_words=("zebra",), moderation_category="violence")
    error = refused({"model": "seedream-4", "input": {"prompt": "a zebra"}}, config)
    assert error.data is not None and error.data["categories"]["violence"] is True
    validate_submit({"model": "seedream-4", "input": {"prompt": "forbidden"}}, MODELS, config)
    off = SimulatorConfig(moderation_words=())
    validate_submit({"model": "seedream-4", "input": {"prompt": "forbidden"}}, MODELS, off)


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("[sim:explode]", ["unknown simulator directive", "[sim:explode]"]),
        ("[sim:fail=OUT_OF_CHEESE]", ["failure_reason", "INSUFFICIENT_POINTS"]),
        ("[sim:hold=SUCCESS]", ["hold takes one of"]),
        ("[sim:size=lots]", ["not a size"]),
        ("[sim:seconds=-1]", ["at least 0"]),
        ("[sim:count=zero]", ["expected a number"]),
    ],
)
def test_bad_directives_are_400(prompt: str, words: list[str]) -> None:
    message = refused({"model": "seedream-4", "input": {"prompt": prompt}}).msg
    for word in words:
        assert word in message, message


async def test_validation_errors_over_http() -> None:
    async with running() as (sim, api):
        status, body = await api.submit("grok-imagine/text-to-image-lite", prompt="x", ratio="1:1")
        assert status == 400 and body["code"] == 400 and "ratio" in body["msg"]
        assert set(body) == {"code", "msg"}
        status, body = await api.submit("seedream-4", prompt="a forbidden thing")
        assert status == 400 and body["msg"] == "content rejected by moderation"
        assert len(body["data"]["categories"]) == 13
        status, body = await api.submit("seedream-4", prompt="x", callBackUrl="http://127.0.0.1/")
        assert status == 200  # FAST allows loopback callbacks
        sim.config.allow_loopback_callbacks = False
        status, body = await api.submit("seedream-4", prompt="x", callBackUrl="http://127.0.0.1/")
        assert status == 400 and "publicly reachable" in body["msg"]
        assert len(sim.tasks) == 1


def test_typical_seconds() -> None:
    config = SimulatorConfig(model_seconds={"veo3": 3.0})
    assert typical_seconds("nano-banana", MODELS["nano-banana"], config) == 10
    assert typical_seconds("nano-banana-pro", MODELS["nano-banana-pro"], config) == 30
    assert typical_seconds("seedance-2.0", MODELS["seedance-2.0"], config) == 120
    # [0, 300] ("under 5 minutes") → half the upper bound
    assert (
        typical_seconds("grok-imagine/text-to-video", MODELS["grok-imagine/text-to-video"], config)
        == 150
    )
    assert typical_seconds("jimeng-4.5", MODELS["jimeng-4.5"], config) == 17  # example_seconds
    assert typical_seconds("seedream-4", MODELS["seedream-4"], config) == 15  # image default
    grok_i2v = MODELS["grok-imagine/image-to-video"]
    assert typical_seconds("grok-imagine/image-to-video", grok_i2v, config) == 120  # video default
    assert typical_seconds("veo3", MODELS["veo3"], config) == 3.0  # override


def test_packaged_catalogue_matches_the_reference() -> None:
    """The simulator's copy must be the upstream reference, verbatim."""
    packaged = Path(__file__).resolve().parents[2] / "simulator" / "models.json"
    assert "_meta" in json.loads(packaged.read_text(encoding="utf-8"))
    assert "_meta" not in MODELS and len(MODELS) >= 30
    if not SHARED_MODELS.exists():
        pytest.skip("shared/maxapi/models.json is not beside the checkout")
    assert packaged.read_bytes() == SHARED_MODELS.read_bytes()
