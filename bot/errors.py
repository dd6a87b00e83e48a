"""Errors a member should see as a short sentence, not as "This interaction failed".

Raised anywhere in the bot (the job service, quota checks, cogs); the one error path
in ``cogs/ui.py`` turns them into an ephemeral embed. Anything else is a bug: the
member gets an apology with the job id, and the traceback goes to the log.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """A refusal with a message that says what to do. Nothing was charged."""

    title = "Can't do that"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
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
