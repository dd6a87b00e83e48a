"""Everything about the simulator that a test or a try-out may want to change.

Where the Max API docs are silent (HTTP status of errors, which states can be
cancelled) the choice is a field here, so the bot can be tested against both answers.
Fields are plain attributes: tests may change them while the simulator runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CancelRule = Literal["any-active", "pending-only"]
ErrorStyle = Literal["http", "code200"]

CANCEL_RULES: tuple[CancelRule, ...] = ("any-active", "pending-only")
ERROR_STYLES: tuple[ErrorStyle, ...] = ("http", "code200")

# The GPT Image 2 query example echoes only model and prompt; the others echo everything.
MINIMAL_ECHO_MODELS = frozenset({"gpt-image-2/text-to-image", "gpt-image-2/image-to-image"})


@dataclass
class SimulatorConfig:
    """Knobs of one simulator instance (defaults mimic the real service)."""

    api_key: str = field(default="sim-key", repr=False)
    host: str = "127.0.0.1"
    port: int = 0
    # Prefix for result-file URLs; default: the address the server is bound to.
    public_url: str | None = None
    # Multiplies every duration: 1.0 = the models' typical times, 0.01 = 100x faster.
    speed: float = 1.0
    # Seconds per model id, overriding the catalogue's typical time (before ``speed``).
    model_seconds: dict[str, float] = field(default_factory=dict)
    default_image_seconds: float = 15.0
    default_video_seconds: float = 120.0
    # The real service refuses loopback and private callback addresses (SSRF guard).
    allow_loopback_callbacks: bool = False
    cancel_rule: CancelRule = "any-active"
    # "http": HTTP status == code; "code200": HTTP 200 with a non-zero code.
    error_style: ErrorStyle = "http"
    # Whole words (case-insensitive) that the pre-submit moderation layer rejects.
    moderation_words: tuple[str, ...] = ("forbidden",)
    moderation_category: str = "illicit"
    # Images per result when the request has no ``n``.
    default_image_count: int = 1
    # Rendered PNGs are scaled down to this long side (None: the nominal size).
    image_max_side: int | None = 512
    # Pad every result file to this many bytes (None: natural size).
    result_bytes: int | None = None
    # Result links stop working this long after the task ended.
    url_ttl_seconds: float = 7 * 24 * 3600
    callback_timeout: float = 5.0
    # Seeds the RNG of probabilistic faults.
    seed: int | None = None
    echo_minimal_models: frozenset[str] = MINIMAL_ECHO_MODELS

    def __post_init__(self) -> None:
        if self.speed < 0:
            raise ValueError("speed must be >= 0")
        if self.cancel_rule not in CANCEL_RULES:
            raise ValueError(f"cancel_rule must be one of {', '.join(CANCEL_RULES)}")
        if self.error_style not in ERROR_STYLES:
            raise ValueError(f"error_style must be one of {', '.join(ERROR_STYLES)}")
