"""Submit validation against ``models.json``, with 400 messages a person can act on.

The real service's wording is unknown; what matters is that every request the real
one would refuse is refused here too, so the bot's own catalogue is kept honest.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .callbacks import callback_refusal
from .catalog import ModelEntry, image_field, needs_images
from .config import SimulatorConfig
from .directives import Directives, parse_directives
from .errors import ApiError, bad_request

TOP_LEVEL_FIELDS = ("model", "input", "callBackUrl", "user_id")
IMAGE_FIELDS = ("imageUrls", "images", "mediaUrls")
MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "sexual",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm/intent",
    "self-harm/instructions",
    "self-harm",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "a boolean",
    "array": "an array",
}
_VEO_MODES_BY_COUNT = {1: "i2v", 2: "i2v-fl", 3: "r2v"}


@dataclass
class Submission:
    """A submit request that passed validation."""

    model: str
    entry: ModelEntry
    input: dict[str, Any]
    callback_url: str | None
    user_id: str | None
    directives: Directives


def validate_submit(
    body: Any, models: dict[str, ModelEntry], config: SimulatorConfig
) -> Submission:
    """Check one submit body; raise :class:`ApiError` (400) with a readable reason."""
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    for key in body:
        if key not in TOP_LEVEL_FIELDS:
            raise bad_request(_unknown(f"field '{key}'", key, TOP_LEVEL_FIELDS))
    model = body.get("model")
    if model is None:
        raise bad_request("model is required")
    if not isinstance(model, str) or not model:
        raise bad_request("model must be a non-empty string")
    entry = models.get(model)
    if entry is None:
        raise bad_request(_unknown(f"model '{model}'", model, list(models)))
    params = body.get("input")
    if params is None:
        raise bad_request("input is required")
    if not isinstance(params, dict):
        raise bad_request("input must be an object")
    callback = body.get("callBackUrl")
    if callback is not None:
        if not isinstance(callback, str):
            raise bad_request("callBackUrl must be a string")
        refusal = callback_refusal(callback, allow_private=config.allow_loopback_callbacks)
        if refusal:
            raise bad_request(refusal)
    user_id = body.get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        raise bad_request("user_id must be a string")

    check_input(model, entry, params, models)
    directives = parse_directives(params["prompt"])
    check_moderation(params, config)
    return Submission(model, entry, params, callback or None, user_id, directives)


def check_input(
    model: str, entry: ModelEntry, params: dict[str, Any], models: dict[str, ModelEntry]
) -> None:
    """Every rule of one model's ``input``; the order makes the first message the clearest."""
    specs: dict[str, dict[str, Any]] = entry.get("inputs", {})
    field = image_field(entry)
    accepted = list(specs) + ([field] if field and field not in specs else [])
    for key in params:
        if key not in accepted:
            raise bad_request(_unaccepted(model, entry, key, accepted, models))

    prompt = params.get("prompt")
    if prompt is None:
        raise bad_request("input.prompt is required")
    if not isinstance(prompt, str):
        raise bad_request("input.prompt must be a string")
    if not prompt.strip():
        raise bad_request("input.prompt must not be empty")
    for key, spec in specs.items():
        if spec.get("required") and key not in params:
            raise bad_request(f"input.{key} is required for {model}")
    if field and needs_images(entry) and field not in params:
        raise bad_request(f"{model} needs reference images in input.{field}")

    for key, value in params.items():
        if key == field:
            _check_urls(entry, key, value)
        else:
            _check_type(key, value, specs[key].get("type"))

    if entry.get("family") == "veo3":
        _veo_lite_rules(model, params)
    for key, value in params.items():
        if key != field and key != "prompt":
            _check_value(model, key, value, specs[key])
    if field and field in params:
        _check_image_count(model, entry, field, params[field])
    if entry.get("family") == "veo3":
        _veo_rules(model, params)
    if entry.get("family") == "gpt-image-2":
        _gpt_image_rules(model, entry, params)


def check_moderation(params: dict[str, Any], config: SimulatorConfig) -> None:
    """The pre-submit moderation layer: a configured word in the prompt or an image URL."""
    if not config.moderation_words:
        return
    words = "|".join(re.escape(word) for word in config.moderation_words)
    pattern = re.compile(rf"\b(?:{words})\b", re.IGNORECASE)
    texts = [str(params.get("prompt", ""))]
    for key in IMAGE_FIELDS:
        if isinstance(params.get(key), list):
            texts.extend(str(item) for item in params[key])
    if any(pattern.search(text) for text in texts):
        categories = {name: name == config.moderation_category for name in MODERATION_CATEGORIES}
        raise ApiError(
            400,
            "content rejected by moderation",
            {"flagged": True, "categories": categories},
        )


def _unknown(what: str, value: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    if not close:
        close = [choice for choice in choices if choice.lower() == value.lower()]
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {what}{hint}"


def _unaccepted(
    model: str, entry: ModelEntry, key: str, accepted: list[str], models: dict[str, ModelEntry]
) -> str:
    field = image_field(entry)
    if key in IMAGE_FIELDS and field:
        return f"{model} takes reference images in input.{field}, not input.{key}"
    if key in IMAGE_FIELDS:
        sibling = next(
            (
                other
                for other, candidate in models.items()
                if candidate.get("family") == entry.get("family")
                and candidate.get("media") == entry.get("media")
                and image_field(candidate)
            ),
            None,
        )
        hint = f"; use {sibling} for image input" if sibling else ""
        return f"{model} does not take reference images (input.{key}){hint}"
    message = f"input.{key} is not accepted by {model}; accepted: {', '.join(accepted)}"
    notes = str(entry.get("notes", ""))
    if re.search(rf"\b{re.escape(key)}\b", notes):
        message += f" ({notes.rstrip('.')})"
    return message


def _check_type(key: str, value: Any, expected: Any) -> None:
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
    }.get(str(expected), True)
    if not ok:
        raise bad_request(f"input.{key} must be {_TYPE_NAMES[str(expected)]}, got {value!r}")


def _check_value(model: str, key: str, value: Any, spec: dict[str, Any]) -> None:
    values = spec.get("values")
    if values is not None and value not in values:
        listed = ", ".join(str(item) for item in values)
        raise bad_request(f"input.{key} {value!r} is not accepted by {model}; use one of {listed}")
    if spec.get("type") != "integer":
        return
    low, high = spec.get("min"), spec.get("max")
    if values is None and low is None and value < 1:
        raise bad_request(f"input.{key} must be a positive integer, got {value}")
    if low is not None and high is not None and not low <= value <= high:
        raise bad_request(f"input.{key} must be between {low} and {high} for {model}, got {value}")
    if low is not None and value < low:
        raise bad_request(f"input.{key} must be at least {low} for {model}, got {value}")
    if high is not None and value > high:
        raise bad_request(f"input.{key} must be at most {high} for {model}, got {value}")


def _check_urls(entry: ModelEntry, key: str, value: Any) -> None:
    if not isinstance(value, list):
        raise bad_request(f"input.{key} must be an array of URLs")
    allows_objects = "{url" in str(entry.get("inputs", {}).get(key, {}).get("items", ""))
    for index, item in enumerate(value):
        url = item.get("url") if allows_objects and isinstance(item, dict) else item
        if not isinstance(url, str):
            raise bad_request(f"input.{key}[{index}] must be a URL string")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad_request(f"input.{key}[{index}] must be a public http(s) URL, got {url!r}")


def media_kind(url: str, formats: dict[str, list[str]]) -> str:
    """``image``, ``video`` or ``audio`` from the URL's extension (unknown: image)."""
    path = urlsplit(url).path.lower()
    for kind, extensions in formats.items():
        if any(path.endswith(ext) for ext in extensions):
            return kind
    return "image"


def _check_image_count(model: str, entry: ModelEntry, field: str, items: list[Any]) -> None:
    spec = entry.get("image_urls") or {}
    count = len(items)
    low, high = spec.get("min") or 0, spec.get("max")
    if count < low:
        hint = " (leave it out for text-only generation)" if not needs_images(entry) else ""
        raise bad_request(f"input.{field} must hold at least {low} URL(s) for {model}{hint}")
    if high is not None and count > high:
        raise bad_request(f"{model} takes at most {high} item(s) in input.{field}, got {count}")
    formats = spec.get("formats")
    if not formats:
        return
    accepted = spec.get("accepted_media") or ["image"]
    urls = [item.get("url", "") if isinstance(item, dict) else str(item) for item in items]
    kinds = [media_kind(url, formats) for url in urls]
    for index, kind in enumerate(kinds):
        if kind not in accepted:
            raise bad_request(
                f"{model} accepts only {' and '.join(accepted)} in input.{field}; "
                f"item {index} is {kind}"
            )
    max_images = spec.get("max_images")
    images = kinds.count("image")
    if max_images is not None and images > max_images:
        raise bad_request(
            f"{model} takes at most {max_images} images in input.{field}, got {images}"
        )


def _veo_lite_rules(model: str, params: dict[str, Any]) -> None:
    if model != "veo3_lite":
        return
    if "resolution" in params:
        raise bad_request("veo3_lite does not take input.resolution: it renders 720p only")
    if params.get("mode") == "r2v" or len(params.get("imageUrls") or []) > 2:
        raise bad_request(
            "veo3_lite has no r2v (reference-to-video): send at most 2 images, mode i2v or i2v-fl"
        )


def _veo_rules(model: str, params: dict[str, Any]) -> None:
    count = len(params.get("imageUrls") or [])
    mode = params.get("mode")
    if mode is not None and count == 0:
        raise bad_request(f"input.mode '{mode}' needs images in input.imageUrls")
    if mode == "i2v" and count != 1:
        raise bad_request(f"mode i2v takes exactly 1 image (the first frame), got {count}")
    if mode == "i2v-fl" and count != 2:
        raise bad_request(f"mode i2v-fl takes exactly 2 images (first and last frame), got {count}")
    effective = mode or _VEO_MODES_BY_COUNT.get(count)
    duration = params.get("duration")
    if effective == "r2v" and duration not in (None, 8):
        raise bad_request(f"r2v (reference-to-video) supports only duration 8, got {duration}")
    if model == "veo3" and effective == "i2v" and duration not in (None, 8):
        raise bad_request(
            f"veo3 single-image i2v supports only duration 8, got {duration}; "
            "use two images (i2v-fl) or veo3_fast for 4 or 6 seconds"
        )


def _gpt_image_rules(model: str, entry: ModelEntry, params: dict[str, Any]) -> None:
    allowed = (entry.get("constraints") or {}).get("4k_allowed_ratios")
    ratio = params.get("ratio")
    if params.get("resolution") == "4k" and allowed and ratio is not None and ratio not in allowed:
        raise bad_request(
            f"{model} cannot render ratio {ratio} at 4k (over the pixel budget); "
            f"at 4k use one of {', '.join(allowed)}"
        )
