"""Discord attachment links and their expiry: which links are Discord's, when they stop
working, and whether one must be renewed before it goes to Max API.

Discord's CDN links carry ``?ex=<hex unix seconds>&is=…&hm=…`` and are refused after
``ex``. A link without a readable ``ex`` is treated as expired (Discord refuses
unsigned links too).
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import parse_qs, urlsplit

#: Hosts that serve Discord's attachments (``netloc``: host, and port where not default).
DISCORD_CDN_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
#: Paths of attachment files: message attachments and command-option uploads.
ATTACHMENT_PATHS = ("/attachments/", "/ephemeral-attachments/")
#: A link expiring within this many seconds is renewed before use (Max API fetches later).
REFRESH_MARGIN = 10 * 60.0


def is_discord_link(url: str, hosts: Collection[str] = DISCORD_CDN_HOSTS) -> bool:
    """Whether ``url`` is a Discord attachment link, served from one of ``hosts``."""
    parts = urlsplit(url)
    wanted = {h.lower() for h in hosts}
    return parts.netloc.lower() in wanted and parts.path.startswith(ATTACHMENT_PATHS)


def expires_at(url: str) -> float | None:
    """Unix time from the link's ``ex=``; ``None`` when it has none or it is unreadable."""
    values = parse_qs(urlsplit(url).query).get("ex")
    if not values:
        return None
    try:
        return float(int(values[0], 16))
    except ValueError:
        return None


def needs_refresh(url: str, now: float, hosts: Collection[str] = DISCORD_CDN_HOSTS) -> bool:
    """Whether ``url`` is a Discord link that has expired or will within 10 minutes."""
    if not is_discord_link(url, hosts):
        return False
    until = expires_at(url)
    return until is None or until - now <= REFRESH_MARGIN


def link_hosts(discord_api_base: str) -> frozenset[str]:
    """Discord's CDN hosts plus the host discord.py talks to (a local or proxied
    Discord serves its attachments itself)."""
    own = urlsplit(discord_api_base).netloc.lower()
    return DISCORD_CDN_HOSTS | ({own} if own else set())
