"""Errors a member should see as a short sentence, not as "This interaction failed".

Raised anywhere in the bot (the job service, quota checks, cogs); the one error path
in ``cogs/ui.py`` turns them into an ephemeral embed. Anything else is a bug: the
member gets an apology with the job id, and the traceback goes to the log.
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


def mark_audited(error: E) -> E:
    """Note that a refusal was already stored where it was raised, so the shared error
    path (``bot/discord_io/ui.py``) does not store it a second time."""
    error.__dict__["audited"] = True
    return error


#: The refusal in a server the operator did not list in ``ALLOWED_GUILD_IDS``.
NOT_SERVED = (
    "This bot serves only the servers its operator chose, and this is not one of them. "
    "Nothing was charged."
)


class UserFacingError(Exception):
    """A refusal with a message that says what to do. Nothing was charged.

    ``message`` may be a template with ``fields``: ``str()`` and ``.message`` are the
    English sentence (what the audit log keeps), and the error path translates
    ``template`` for the member's locale before filling the fields in."""

    title = "Can't do that"

    def __init__(self, message: str, *, title: str | None = None, **fields: object) -> None:
        text = message.format(**fields) if fields else message
        super().__init__(text)
        self.message = text
        self.template = message
        self.fields = fields
        if title is not None:
            self.title = title


class NotAllowed(UserFacingError):
    """The member lacks a right (not the owner, not a moderator, blocked)."""

    title = "Not allowed"


class LimitReached(UserFacingError):
    """A moderator-set limit or budget is used up; the message says when it resets."""

    title = "Limit reached"


class MissingBotPermissions(UserFacingError):
    """The bot cannot post results in this channel; tell the member before accepting."""

    title = "I can't post here"


class DuplicateInteraction(Exception):
    """A job for this interaction exists already: another session received it too and
    answers it; this one does nothing."""
