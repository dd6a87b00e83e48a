"""Discord's errors on demand: a test scripts the next answers of a route.

    world.faults.next(route="POST /channels/{channel_id}/messages", code=50013)
    world.faults.next(route=f"POST /channels/{cid}/messages", status=429, retry_after=0.2)
    world.faults.next(route="PATCH /webhooks/{app}/{token}/messages/@original", status=500)
    world.faults.next(route="GET /users/@me", drop=True, times=2)  # Discord unreachable

A route is ``METHOD path`` with the path as after ``/api/v10``; a ``{…}`` segment
matches any value and a literal id only that one, so a fault can target one channel.
``route=None`` matches every API request. ``route="GET /gateway", drop=True`` refuses
gateway connections (the websocket, not the REST route of that name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.discord_world.errors import KNOWN_CODES, STATUS_MESSAGES


@dataclass
class Fault:
    method: str | None
    segments: list[str] | None
    status: int
    code: int
    message: str
    times: int | None
    """How many requests it answers; ``None`` for every one until cleared."""
    retry_after: float = 0.0
    via: bool = True
    """429 only: without the ``Via`` header discord.py takes it for a Cloudflare ban."""
    is_global: bool = False
    delay: float = 0.0
    """Seconds to hold the request before answering."""
    commit: bool = False
    """Do the request for real, then answer the error anyway (a lost response)."""
    drop: bool = False
    """Close the connection without an answer, as an unreachable Discord would."""
    hits: int = 0
    requests: list[str] = field(default_factory=list)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str) -> bool:
        if self.exhausted:
            return False
        if self.method is not None and self.method != method.upper():
            return False
        if self.segments is None:
            return True
        parts = path.strip("/").split("/")
        if len(parts) != len(self.segments):
            return False
        return all(
            (want.startswith("{") and want.endswith("}")) or want == got
            for want, got in zip(self.segments, parts, strict=True)
        )

    def body(self) -> dict[str, Any]:
        if self.status == 429:
            return {
                "message": self.message,
                "retry_after": self.retry_after,
                "global": self.is_global,
                "code": self.code,
            }
        return {"message": self.message, "code": self.code}

    def headers(self) -> dict[str, str]:
        if self.status != 429:
            return {}
        headers = {
            "Retry-After": str(self.retry_after),
            "X-RateLimit-Scope": "global" if self.is_global else "user",
        }
        if self.is_global:
            headers["X-RateLimit-Global"] = "true"
        if self.via:
            headers["Via"] = "1.1 google"
        return headers


class Faults:
    def __init__(self) -> None:
        self._plan: list[Fault] = []

    def next(
        self,
        route: str | None = None,
        *,
        status: int | None = None,
        code: int = 0,
        message: str | None = None,
        times: int | None = 1,
        retry_after: float = 0.05,
        via: bool = True,
        is_global: bool = False,
        delay: float = 0.0,
        commit: bool = False,
        drop: bool = False,
    ) -> Fault:
        """Script the next ``times`` answers of ``route``. The status defaults to the
        one Discord uses for ``code`` (50013 → 403, 10003 → 404, 40005 → 413, …);
        ``drop`` closes the connection with no answer instead."""
        method: str | None = None
        segments: list[str] | None = None
        if route is not None:
            method_part, _, path = route.strip().partition(" ")
            if not path:
                raise ValueError(f"route must be 'METHOD /path', got {route!r}")
            method = method_part.upper()
            path = path.split("?", 1)[0]
            if path.startswith("/api/v10"):
                path = path[len("/api/v10") :]
            segments = path.strip("/").split("/")
        known_status, known_message = KNOWN_CODES.get(code, (400, "Error"))
        if status is None:
            if code == 0 and not drop:
                raise ValueError("give a Discord error code or an HTTP status")
            status = known_status
        if message is None:
            message = STATUS_MESSAGES.get(status) if code == 0 else known_message
            message = message or known_message
        fault = Fault(
            method=method,
            segments=segments,
            status=status,
            code=code,
            message=message,
            times=times,
            retry_after=retry_after,
            via=via,
            is_global=is_global,
            delay=delay,
            commit=commit,
            drop=drop,
        )
        self._plan.append(fault)
        return fault

    def take(self, method: str, path: str, *, gateway: bool = False) -> Fault | None:
        """The first scripted fault for this request, counted as used. A gateway
        connection (``GET /gateway``) takes only a fault that names its path."""
        for fault in self._plan:
            if gateway and fault.segments is None:
                continue
            if fault.matches(method, path):
                fault.hits += 1
                fault.requests.append(f"{method} {path}")
                return fault
        return None

    def pending(self) -> list[Fault]:
        return [f for f in self._plan if not f.exhausted]

    def clear(self) -> None:
        self._plan.clear()
