"""Webhook delivery as the real service does it: one POST, 5 s timeout, no retries.

Also the SSRF guard: Max API refuses callback URLs on localhost and private
networks, which is why tests must opt in with ``allow_loopback_callbacks``.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

USER_AGENT = "MaxAPI-Simulator/1.0"


@dataclass(frozen=True)
class CallbackRecord:
    """One webhook the simulator sent (or dropped on purpose)."""

    task_id: str
    url: str
    body: dict[str, Any]
    at: datetime
    status: int | None = None
    error: str | None = None
    dropped: bool = False

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def callback_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why this callback URL would be refused, or None when it is acceptable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "callBackUrl must be an absolute http(s) URL"
    if allow_private:
        return None
    host = parts.hostname.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return "callBackUrl must be publicly reachable: localhost is not supported"
    try:
        address = ipaddress.ip_address(int(host) if host.isdigit() else host)
    except ValueError:
        return None  # a host name; the real service would resolve it, we cannot
    if not address.is_global:
        return (
            "callBackUrl must be publicly reachable: loopback and private addresses "
            "are not supported"
        )
    return None


async def deliver(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], limit: float
) -> tuple[int | None, str | None]:
    """POST once within ``limit`` seconds; return (HTTP status, None) or (None, what went wrong)."""
    try:
        async with session.post(
            url,
            json=body,
            timeout=aiohttp.ClientTimeout(total=limit),
            headers={"User-Agent": USER_AGENT},
        ) as response:
            await response.read()
            return response.status, None
    except TimeoutError:
        return None, f"timed out after {limit:g} s"
    except (aiohttp.ClientError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
