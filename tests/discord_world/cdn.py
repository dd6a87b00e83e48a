"""Signed attachment links, as Discord's CDN hands them out since 2024.

A link carries ``?ex=<hex unix seconds>&is=<hex unix seconds>&hm=<hex HMAC>``: ``ex`` is
when it stops working (24 h after ``is``), ``hm`` signs the path with both, so a made-up
or edited link fails. After ``ex`` (or with a bad signature) the CDN answers 404
"This content is no longer available.". Payloads (a fetched message, an interaction)
carry a link with more than half its life left, re-signed when needed;
``POST /attachments/refresh-urls`` always signs anew.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from urllib.parse import urlencode, urlsplit

LIFETIME = 24 * 3600.0
"""Seconds a signed link works."""
RESIGN_BELOW = LIFETIME / 2
"""A payload re-signs a link with less than this left."""
GONE_TEXT = "This content is no longer available."


class Cdn:
    """Signs and checks attachment links by the world's clock (``wall``)."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self.wall = wall
        self._key = secrets.token_bytes(32)

    def _mac(self, path: str, ex: str, issued: str) -> str:
        message = f"{path}|{ex}|{issued}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, url: str) -> str:
        """``url`` (any query dropped) signed now, for ``LIFETIME`` seconds."""
        base = url.split("?", 1)[0]
        now = int(self.wall())
        ex, issued = f"{now + int(LIFETIME):x}", f"{now:x}"
        mac = self._mac(urlsplit(base).path, ex, issued)
        return f"{base}?{urlencode({'ex': ex, 'is': issued, 'hm': mac})}&"

    def expires_at(self, url: str) -> float | None:
        """When a correctly signed ``url`` stops working; ``None`` when unsigned or forged."""
        parts = urlsplit(url)
        return self.valid_until(parts.path, dict(_query(parts.query)))

    def valid_until(self, path: str, query: Mapping[str, str]) -> float | None:
        ex, issued, mac = query.get("ex", ""), query.get("is", ""), query.get("hm", "")
        if not (ex and issued and mac):
            return None
        if not hmac.compare_digest(self._mac(path, ex, issued), mac):
            return None
        try:
            return float(int(ex, 16))
        except ValueError:
            return None

    def serves(self, path: str, query: Mapping[str, str]) -> bool:
        """Whether the CDN serves this link now (signed and not past ``ex``)."""
        until = self.valid_until(path, query)
        return until is not None and self.wall() < until

    def fresh(self, url: str) -> str:
        """What a payload carries: ``url`` while it has over half its life left, else a
        newly signed one."""
        until = self.expires_at(url)
        if until is not None and until - self.wall() > RESIGN_BELOW:
            return url
        return self.sign(url)


def _query(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if "=" in part:
            key, value = part.split("=", 1)
            pairs.append((key, value))
    return pairs
