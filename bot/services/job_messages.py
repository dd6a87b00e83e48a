"""What members read about their jobs, as English templates with ``{fields}``.

A job stores the template and its fields; ``bot.text.i18n`` translates them for the reader.
"""

from __future__ import annotations

from typing import Any

from bot import maxapi

#: What the member reads for each Max API ``failure_reason``.
FAILURE_MESSAGES: dict[str | None, str] = {
    "CONTENT_MODERATION": (
        "Max API's moderation refused the prompt or image (real faces, public figures, "
        "copyrighted characters or adult content). Change it and try again."
    ),
    "INVALID_PARAMETERS": (
        "Max API refused the parameters. Check the options and attachments and try again."
    ),
    "INSUFFICIENT_POINTS": (
        "The server's Max API account is out of credits. Ask a moderator to top it up."
    ),
    None: "Max API could not finish this job. Trying again may work.",
}
TIMEOUT_MESSAGE = "Max API timed out on this job. Trying again may work."
TOO_OLD_MESSAGE = (
    "Max API did not finish this job within {duration}. Atelier stopped waiting for it."
)
REJECTED_MESSAGES: dict[str, str] = {
    "CONTENT_REJECTED": (
        "Max API's moderation refused the prompt ({categories}). Change it and try again. "
        "You were not charged."
    ),
    "INVALID_PARAMETERS": "Max API refused the request: {message}. You were not charged.",
    "RATE_LIMITED": "Max API is busy. Try again in {seconds} s. You were not charged.",
    "RATE_LIMITED_LATER": "Max API is busy. Try again in a minute. You were not charged.",
    "INSUFFICIENT_CREDITS": (
        "The server's Max API account is out of credits. Ask a moderator to top it up. "
        "You were not charged."
    ),
    "UNAUTHORIZED": (
        "Max API refused the bot's API key. Ask the bot's operator to check MAXAPI_KEY."
    ),
    "UNAVAILABLE": (
        "Max API could not be reached. Try again in a few minutes. You were not charged."
    ),
}
#: A cancel that keeps its charge, by ``CANCEL_REFUNDS`` mode: the reason kept on the job
#: (its card and ending notice show it) and the answer to whoever cancelled it.
CHARGED_CANCEL_REASONS: dict[str, str] = {
    "pending": "Max API had already started it, so you were charged for it.",
    "never": "It had already reached Max API, so you were charged for it.",
}
CHARGED_CANCEL_ANSWERS: dict[str, str] = {
    "pending": "Cancelled. Max API had already started it, so you were charged for it.",
    "never": "Cancelled. It had already reached Max API, so you were charged for it.",
}
ALREADY_ENDED = "Job {job_id} has already {state}."
HAD_ENDED = "Job {job_id} had already {state}."
#: The refusal for a blocked member, by (has an end, has a reason).
BLOCKED: dict[tuple[bool, bool], str] = {
    (False, False): "A moderator blocked you from using Atelier here.",
    (False, True): "A moderator blocked you from using Atelier here ({reason}).",
    (True, False): "A moderator blocked you from using Atelier here until <t:{until}:f>.",
    (True, True): "A moderator blocked you from using Atelier here until <t:{until}:f> ({reason}).",
}


def upstream_failure(task: maxapi.Task) -> tuple[str | None, str]:
    """The reason code and template for a task that failed or timed out at Max API."""
    if task.status == maxapi.TaskStatus.TIMEOUT:
        return "TIMEOUT", TIMEOUT_MESSAGE
    return task.failure_reason, FAILURE_MESSAGES.get(task.failure_reason, FAILURE_MESSAGES[None])


def rejection(exc: maxapi.MaxApiError) -> tuple[str, str, dict[str, Any]]:
    """The reason code, template and fields for a submit that Max API refused."""
    if isinstance(exc, maxapi.ContentRejected):
        cats = ", ".join(c.replace("/", " / ") for c in exc.categories) or "unspecified"
        return "CONTENT_REJECTED", REJECTED_MESSAGES["CONTENT_REJECTED"], {"categories": cats}
    if isinstance(exc, maxapi.InvalidParameters):
        return (
            "INVALID_PARAMETERS",
            REJECTED_MESSAGES["INVALID_PARAMETERS"],
            {"message": exc.message},
        )
    if isinstance(exc, maxapi.RateLimited):
        if exc.retry_after:
            wait = int(exc.retry_after) + 1
            return "RATE_LIMITED", REJECTED_MESSAGES["RATE_LIMITED"], {"seconds": wait}
        return "RATE_LIMITED", REJECTED_MESSAGES["RATE_LIMITED_LATER"], {}
    if isinstance(exc, maxapi.InsufficientCredits):
        code = "INSUFFICIENT_CREDITS"
    elif isinstance(exc, maxapi.Unauthorized):
        code = "UNAUTHORIZED"
    else:
        code = "UNAVAILABLE"
    return code, REJECTED_MESSAGES[code], {}
