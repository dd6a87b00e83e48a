"""Fresh Discord attachment links for a job about to start: a link that has expired or
will within 10 minutes is renewed through Discord's ``POST /attachments/refresh-urls``.

Discord answers a link it cannot renew (its message was deleted) with the link as sent;
that, or no answer, is a refusal before anything is reserved.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import discord
from discord.http import Route

from bot.domain.attachment_links import link_hosts, needs_refresh
from bot.domain.errors import UserFacingError
from bot.domain.options import GenerationRequest
from bot.text.i18n import t

log = logging.getLogger(__name__)

BATCH = 50  # links Discord renews in one request

GONE = (
    "An image this job starts from is no longer on Discord (its message was deleted), "
    "so it can't be used again. Attach the image again to /imagine. Nothing was charged."
)
UNANSWERED = (
    "Discord did not renew the link of an image this job starts from. Try again in a "
    "minute. Nothing was charged."
)


def discord_hosts() -> frozenset[str]:
    """Hosts whose attachment links are Discord's: its CDN and the API host in use."""
    return link_hosts(Route.BASE)


def api_hosts() -> frozenset[str]:
    """Discord's host as discord.py reaches it (no CDN): attachment links there are
    Discord's own even when it is local (a test's Discord, a REST proxy)."""
    host = urlsplit(Route.BASE).hostname
    return frozenset({host} if host else ())


async def refresh_links(
    http: Any, urls: Sequence[str], *, now: float, locale: str | None
) -> list[str]:
    """``urls`` with every stale Discord link renewed (others untouched, order kept);
    raises :class:`UserFacingError` when one cannot be renewed."""
    hosts = discord_hosts()
    stale = list(dict.fromkeys(u for u in urls if needs_refresh(u, now, hosts)))
    if not stale:
        return list(urls)
    renewed: dict[str, str] = {}
    for start in range(0, len(stale), BATCH):
        batch = stale[start : start + BATCH]
        try:
            answer = await http.request(
                Route("POST", "/attachments/refresh-urls"), json={"attachment_urls": batch}
            )
        except discord.HTTPException as exc:
            log.warning("attachment links not renewed: %s %s", exc.status, exc.text)
            raise UserFacingError(t(locale, UNANSWERED)) from exc
        for entry in (answer or {}).get("refreshed_urls") or []:
            if isinstance(entry, dict) and entry.get("original") and entry.get("refreshed"):
                renewed[str(entry["original"])] = str(entry["refreshed"])
    fresh = []
    for url in urls:
        if url in stale:
            new = renewed.get(url)
            if new is None or needs_refresh(new, now, hosts):
                log.info("attachment link could not be renewed: %s", url.split("?")[0])
                raise UserFacingError(t(locale, GONE))
            url = new
        fresh.append(url)
    log.info("renewed %d Discord attachment link(s)", len(stale))
    return fresh


async def with_fresh_links(
    client: discord.Client, request: GenerationRequest, *, now: float, locale: str | None
) -> GenerationRequest:
    """``request`` with its image links renewed where needed (the same object if none)."""
    urls = list(request.image_urls)
    fresh = await refresh_links(client.http, urls, now=now, locale=locale)
    if fresh == urls:
        return request
    return dataclasses.replace(request, image_urls=fresh)
