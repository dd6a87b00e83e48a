"""What a failed delivery attempt means: try again later, or give up on the job."""

from __future__ import annotations

import aiohttp
import discord


class _Retry(Exception):
    """Transient: stay in ``delivering`` and try again later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Refused(Exception):
    """Permanent (→ ``undeliverable``); ``message`` is an English template, translated
    with its ``fields`` when shown."""

    def __init__(self, code: str, message: str, /, **fields: object) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.fields = fields


REFUSALS: dict[int, tuple[str, str]] = {
    50013: (
        "MISSING_PERMISSIONS",
        "Atelier is not allowed to post files in this channel (it needs Send Messages and "
        "Attach Files). Ask a moderator to fix the channel's permissions.",
    ),
    50001: ("MISSING_ACCESS", "Atelier can no longer see this channel."),
    10003: ("UNKNOWN_CHANNEL", "The channel was deleted before the result could be posted."),
}
REFUSED_TEXT = "Discord refused the post (code {code})."
NOT_FOUND_TEXT = "Discord could not find the channel (code {code})."

DISCORD_ERRORS = (
    discord.HTTPException,
    discord.RateLimited,
    discord.ConnectionClosed,
    TimeoutError,
    aiohttp.ClientError,
    OSError,
)


def classify(exc: BaseException) -> _Retry | _Refused:
    """What a Discord or network error means for the delivery."""
    if isinstance(exc, discord.RateLimited):
        return _Retry("rate limited", exc.retry_after)
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429 or exc.status >= 500:
            return _Retry(f"Discord answered {exc.status}")
        if exc.code in REFUSALS:
            return _Refused(*REFUSALS[exc.code])
        if isinstance(exc, discord.Forbidden):
            return _Refused("FORBIDDEN", REFUSED_TEXT, code=exc.code)
        if isinstance(exc, discord.NotFound):
            return _Refused("NOT_FOUND", NOT_FOUND_TEXT, code=exc.code)
        return _Refused("DISCORD_REFUSED", REFUSED_TEXT, code=exc.code)
    if isinstance(exc, DISCORD_ERRORS):
        return _Retry(f"{type(exc).__name__}: {exc}")
    raise TypeError(f"not a delivery error: {exc!r}")
