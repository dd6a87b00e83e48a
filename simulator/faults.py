"""Faults on demand: 5xx, 429 with Retry-After, 503 busy, stalls, malformed JSON, lost webhooks.

Two ways to ask: a queue of "next N requests" faults (deterministic, what tests
should use) and probabilities drawn from a seedable RNG (for soak-style try-outs).
A queued fault may be limited to one endpoint: ``submit``, ``query``, ``cancel`` or
``files``; without one it hits the next API call (never files or control routes).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

FaultKind = Literal["error", "rate_limit", "busy", "stall", "malformed"]
ENDPOINTS = ("submit", "query", "cancel", "files")
API_ENDPOINTS = ("submit", "query", "cancel")


@dataclass(frozen=True)
class Fault:
    """One misbehaviour to apply to one request."""

    kind: FaultKind
    status: int = 500
    retry_after: float = 1.0
    seconds: float = 0.0
    body: str | None = None
    # error only: run the request first (e.g. the task IS created) and then fail.
    processed: bool = False
    endpoint: str | None = None


class Faults:
    """The fault plan of one simulator; change it at any time, also while running."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.queue: list[Fault] = []
        self.error_rate = 0.0
        self.error_status = 500
        self.rate_limit_rate = 0.0
        self.retry_after = 1.0
        self.stall_rate = 0.0
        self.stall_seconds = 1.0
        self.malformed_rate = 0.0
        self.callback_drop_rate = 0.0
        self.callback_drops = 0

    # -- deterministic: the next N matching requests ---------------------------------
    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        body: str | None = None,
        endpoint: str | None = None,
        processed: bool = False,
    ) -> None:
        self._queue(
            count, Fault("error", status=status, body=body, processed=processed, endpoint=endpoint)
        )

    def rate_limit_next(
        self, count: int = 1, *, retry_after: float = 1.0, endpoint: str | None = None
    ) -> None:
        self._queue(
            count, Fault("rate_limit", status=429, retry_after=retry_after, endpoint=endpoint)
        )

    def busy_next(
        self, count: int = 1, *, retry_after: float | None = None, endpoint: str | None = None
    ) -> None:
        """503 Service Unavailable, nothing done; ``Retry-After`` only when given."""
        wait = -1.0 if retry_after is None else retry_after  # -1: no header
        self._queue(count, Fault("busy", status=503, retry_after=wait, endpoint=endpoint))

    def stall_next(
        self, count: int = 1, *, seconds: float = 1.0, endpoint: str | None = None
    ) -> None:
        self._queue(count, Fault("stall", seconds=seconds, endpoint=endpoint))

    def malformed_next(self, count: int = 1, *, endpoint: str | None = None) -> None:
        self._queue(count, Fault("malformed", endpoint=endpoint))

    def drop_callbacks(self, count: int = 1) -> None:
        """The next ``count`` webhooks are not sent (recorded as dropped)."""
        self.callback_drops += count

    def clear(self) -> None:
        """Back to a well-behaved service."""
        self.queue.clear()
        self.error_rate = self.rate_limit_rate = self.stall_rate = 0.0
        self.malformed_rate = self.callback_drop_rate = 0.0
        self.callback_drops = 0

    # -- used by the server -------------------------------------------------------------
    def take(self, endpoint: str) -> Fault | None:
        """The fault for this request, if any (queued ones first, then the dice)."""
        for index, fault in enumerate(self.queue):
            if fault.endpoint == endpoint or (fault.endpoint is None and endpoint in API_ENDPOINTS):
                return self.queue.pop(index)
        if endpoint not in API_ENDPOINTS:
            return None
        if self.error_rate and self.rng.random() < self.error_rate:
            return Fault("error", status=self.error_status)
        if self.rate_limit_rate and self.rng.random() < self.rate_limit_rate:
            return Fault("rate_limit", status=429, retry_after=self.retry_after)
        if self.stall_rate and self.rng.random() < self.stall_rate:
            return Fault("stall", seconds=self.stall_seconds)
        if self.malformed_rate and self.rng.random() < self.malformed_rate:
            return Fault("malformed")
        return None

    def take_callback_drop(self) -> bool:
        if self.callback_drops > 0:
            self.callback_drops -= 1
            return True
        return bool(self.callback_drop_rate and self.rng.random() < self.callback_drop_rate)

    # -- the control endpoint -----------------------------------------------------------
    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a ``POST /_sim/faults`` body; unknown keys raise ``ValueError``.

        Example: ``{"clear": true, "fail_next": {"count": 2, "status": 503},
        "rate_limit_next": {"count": 1, "retry_after": 2}, "error_rate": 0.1, "seed": 7}``
        """
        queued: dict[str, Callable[..., None]] = {
            "fail_next": self.fail_next,
            "rate_limit_next": self.rate_limit_next,
            "busy_next": self.busy_next,
            "stall_next": self.stall_next,
            "malformed_next": self.malformed_next,
        }
        rates = {
            "error_rate",
            "error_status",
            "rate_limit_rate",
            "retry_after",
            "stall_rate",
            "stall_seconds",
            "malformed_rate",
            "callback_drop_rate",
        }
        unknown = set(spec) - set(queued) - rates - {"clear", "seed", "drop_callbacks"}
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        if spec.get("clear"):
            self.clear()
        if "seed" in spec:
            self.rng.seed(spec["seed"])
        for name, method in queued.items():
            if name in spec:
                args = dict(spec[name]) if isinstance(spec[name], dict) else {"count": spec[name]}
                method(**args)
        if "drop_callbacks" in spec:
            self.drop_callbacks(int(spec["drop_callbacks"]))
        for name in rates & set(spec):
            setattr(self, name, type(getattr(self, name))(spec[name]))

    def snapshot(self) -> dict[str, Any]:
        return {
            "queue": [asdict(fault) for fault in self.queue],
            "error_rate": self.error_rate,
            "error_status": self.error_status,
            "rate_limit_rate": self.rate_limit_rate,
            "retry_after": self.retry_after,
            "stall_rate": self.stall_rate,
            "stall_seconds": self.stall_seconds,
            "malformed_rate": self.malformed_rate,
            "callback_drop_rate": self.callback_drop_rate,
            "callback_drops": self.callback_drops,
        }

    def _queue(self, count: int, fault: Fault) -> None:
        if fault.endpoint is not None and fault.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        self.queue.extend([fault] * count)
