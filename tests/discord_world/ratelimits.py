"""Discord's rate limits: a bucket per route and major parameter, and the bot's global limit.

Off unless a test turns it on (``world.rate_limits.enabled = True``). Answers carry
Discord's ``X-RateLimit-*`` headers; a request over a limit gets a 429 with ``retry_after``,
``global`` and the ``Via`` header discord.py checks. Interaction callbacks and webhook
(interaction token) routes do not count against the global limit, as on Discord.

    world.rate_limits.enabled = True
    world.rate_limits.set("POST /channels/{channel_id}/messages", limit=2, per=0.5)
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: Route parameters that make a bucket of their own (Discord's "major parameters").
MAJOR = ("channel_id", "guild_id", "app_id", "token")
#: Routes outside the global limit (they carry an interaction token).
NOT_GLOBAL = ("/interactions/", "/webhooks/")


@dataclass(frozen=True)
class Limit:
    limit: int
    per: float  # seconds


#: Discord's documented or observed limits for the routes the bot uses most.
ROUTE_LIMITS = {
    "POST /channels/{channel_id}/messages": Limit(5, 5.0),
    "PATCH /channels/{channel_id}/messages/{message_id}": Limit(5, 5.0),
    "DELETE /channels/{channel_id}/messages/{message_id}": Limit(5, 1.0),
    "POST /webhooks/{app_id}/{token}": Limit(5, 2.0),
    "PATCH /webhooks/{app_id}/{token}/messages/{message_id}": Limit(5, 2.0),
    "DELETE /webhooks/{app_id}/{token}/messages/{message_id}": Limit(5, 2.0),
}
DEFAULT_LIMIT = Limit(50, 1.0)
GLOBAL_LIMIT = Limit(50, 1.0)


@dataclass
class Window:
    remaining: int
    resets_at: float


@dataclass(frozen=True)
class Verdict:
    """What the server adds to an answer: headers, and a 429 body when over a limit."""

    headers: dict[str, str]
    refused: dict[str, object] | None = None


class RateLimits:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = False
        self.clock = clock
        self.limits = dict(ROUTE_LIMITS)
        self.default = DEFAULT_LIMIT
        self.global_limit = GLOBAL_LIMIT
        self._windows: dict[tuple[str, ...], Window] = {}
        self._global: Window | None = None
        self.refused: Counter[str] = Counter()
        """429s answered, by ``METHOD route`` (``global`` for the global limit)."""

    def set(self, route: str, *, limit: int, per: float) -> None:
        """Change one route's limit (``"METHOD /path/{param}"``) or ``"global"``."""
        if route == "global":
            self.global_limit = Limit(limit, per)
        else:
            self.limits[route] = Limit(limit, per)

    def take(self, method: str, route: str, params: Mapping[str, str]) -> Verdict | None:
        """Count one request; ``None`` when limits are off."""
        if not self.enabled:
            return None
        now = self.clock()
        name = f"{method} {route}"
        if not route.startswith(NOT_GLOBAL):
            window = self._global = self._advance(self._global, self.global_limit, now)
            if window.remaining <= 0:
                self.refused["global"] += 1
                return self._global_refusal(window.resets_at - now)
            window.remaining -= 1
        limit = self.limits.get(name, self.default)
        key = (name, *(params.get(p, "") for p in MAJOR))
        window = self._windows[key] = self._advance(self._windows.get(key), limit, now)
        reset_after = max(0.0, window.resets_at - now)
        headers = {
            "X-RateLimit-Limit": str(limit.limit),
            "X-RateLimit-Bucket": hashlib.sha1(name.encode()).hexdigest()[:16],
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        }
        if window.remaining <= 0:
            self.refused[name] += 1
            headers |= {"X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user"}
            headers |= {"Retry-After": str(max(1, round(reset_after))), "Via": "1.1 google"}
            body = {"message": "You are being rate limited.", "retry_after": reset_after}
            return Verdict(headers, {**body, "global": False, "code": 0})
        window.remaining -= 1
        headers["X-RateLimit-Remaining"] = str(window.remaining)
        return Verdict(headers)

    @staticmethod
    def _advance(window: Window | None, limit: Limit, now: float) -> Window:
        if window is None or now >= window.resets_at:
            return Window(remaining=limit.limit, resets_at=now + limit.per)
        return window

    @staticmethod
    def _global_refusal(retry_after: float) -> Verdict:
        headers = {
            "X-RateLimit-Global": "true",
            "X-RateLimit-Scope": "global",
            "Retry-After": str(max(1, round(retry_after))),
            "Via": "1.1 google",
        }
        body = {"message": "You are being rate limited.", "retry_after": retry_after}
        return Verdict(headers, {**body, "global": True, "code": 0})
