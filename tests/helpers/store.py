"""Values for a job row, for tests that write jobs straight to the store."""

from __future__ import annotations

from typing import Any


def job_values(**extra: Any) -> dict[str, Any]:
    return {
        "guild_id": 1,
        "channel_id": 2,
        "user_id": 3,
        "media": "image",
        "model": "nano-banana",
        "prompt": "a fox",
        "input": {"prompt": "a fox", "ratio": "16:9"},
        "options": {"ratio": "16:9"},
        "price_usd": 0.04,
        **extra,
    }
