"""The Max API client: submit, query and cancel tasks, with typed answers and errors."""

from bot.maxapi.callback import callback_task_id, is_callback_token, new_callback_token
from bot.maxapi.client import MAX_BODY_BYTES, MaxApiClient, parse_retry_after
from bot.maxapi.errors import (
    AmbiguousSubmit,
    ContentRejected,
    InsufficientCredits,
    InvalidParameters,
    MalformedResponse,
    MaxApiError,
    NetworkError,
    RateLimited,
    ServerError,
    TaskNotFound,
    Unauthorized,
    Unavailable,
)
from bot.maxapi.task import (
    MAX_RESULT_URLS,
    Envelope,
    Task,
    TaskResult,
    TaskStatus,
    parse_envelope,
    parse_task,
    parse_timestamp,
    result_urls,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_RESULT_URLS",
    "AmbiguousSubmit",
    "ContentRejected",
    "Envelope",
    "InsufficientCredits",
    "InvalidParameters",
    "MalformedResponse",
    "MaxApiClient",
    "MaxApiError",
    "NetworkError",
    "RateLimited",
    "ServerError",
    "Task",
    "TaskNotFound",
    "TaskResult",
    "TaskStatus",
    "Unauthorized",
    "Unavailable",
    "callback_task_id",
    "is_callback_token",
    "new_callback_token",
    "parse_envelope",
    "parse_retry_after",
    "parse_task",
    "parse_timestamp",
    "result_urls",
]
