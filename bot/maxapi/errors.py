"""Max API errors, one class per thing a caller can act on, and which refusal means which."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, Literal

Op = Literal["submit", "get", "cancel"]

_CREDIT_MARKERS: Final = (
    "insufficient",
    "balance",
    "not enough credit",
    "out of credit",
    "余额",
    "积分",
    "欠费",
)
_NOT_FOUND_MARKERS: Final = ("not found", "not exist", "no such task", "不存在", "未找到")
_MODERATION_MARKERS: Final = ("moderation", "审核")
_AUTH_MARKERS: Final = ("unauthorized", "unauthenticated", "未授权")
_RATE_MARKERS: Final = ("rate limit", "too many requests")


class MaxApiError(Exception):
    """Max API said no, or could not be reached. ``message`` is the API's ``msg`` as sent
    (it may be Chinese); ``transient`` says whether trying again later can help."""

    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.retry_after = retry_after  # the server's wait in seconds, when it gave one

    def __str__(self) -> str:
        where = []
        if self.http_status is not None:
            where.append(f"HTTP {self.http_status}")
        if self.code is not None:
            where.append(f"code {self.code}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class Unauthorized(MaxApiError):
    """The API key was refused: the operator must fix ``MAXAPI_KEY``."""


class InsufficientCredits(MaxApiError):
    """The Max API account is out of credits: the operator must top up."""


class InvalidParameters(MaxApiError):
    """The request was refused as invalid; ``message`` says why, in Max API's words."""


class ContentRejected(MaxApiError):
    """Moderation blocked the prompt or image before any task was made; nothing is charged."""

    def __init__(
        self,
        message: str,
        *,
        categories: tuple[str, ...] = (),
        http_status: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, code=code)
        self.categories = categories


class RateLimited(MaxApiError):
    """Too many requests; ``retry_after`` is the server's wait in seconds, if it gave one."""

    transient = True


class ServerError(MaxApiError):
    """Max API (or its proxy) failed; worth trying again later."""

    transient = True


class Unavailable(ServerError):
    """HTTP 503 (or ``code`` 503): Max API cannot take requests now, so a submit created
    nothing; ``retry_after`` is the server's wait in seconds, if it gave one."""


class NetworkError(MaxApiError):
    """No answer: the connection failed or timed out. ``may_have_been_sent`` is False only
    when the failure surely happened before the request was written."""

    transient = True

    def __init__(self, message: str, *, may_have_been_sent: bool = True) -> None:
        super().__init__(message)
        self.may_have_been_sent = may_have_been_sent


class TaskNotFound(MaxApiError):
    """Max API does not know this task id."""


class MalformedResponse(MaxApiError):
    """The answer was not the JSON shape the docs describe."""


class AmbiguousSubmit(MaxApiError):
    """A submit may have reached Max API but no usable answer came back: the task may exist
    and be charged, so never resubmit it. The underlying error is ``__cause__``."""


def error_for(
    op: Op,
    status: int,
    code: int | None,
    msg: str,
    data: Any,
    *,
    from_api: bool,
    retry_after: float | None,
) -> MaxApiError:
    """The error a refusal means. ``code`` and the HTTP status both count; the words of
    ``msg`` and ``data`` count only when ``from_api`` (never in a proxy's error page)."""
    numbers = {n for n in (code, status) if n}
    where: dict[str, Any] = {"http_status": status, "code": code}
    said = f"{msg} {_data_words(data)}" if from_api else ""
    flagged = isinstance(data, Mapping) and data.get("flagged") is True
    if flagged or _mentions(said, _MODERATION_MARKERS):
        return ContentRejected(msg, categories=_categories(data), **where)
    if numbers & {401, 403} or _mentions(said, _AUTH_MARKERS):
        return Unauthorized(msg, **where)
    if 402 in numbers or _mentions(said, _CREDIT_MARKERS):
        return InsufficientCredits(msg, **where)
    # A 404 without Max API's envelope usually means a wrong MAXAPI_BASE_URL: it must not
    # make the bot give up on real tasks.
    if op != "submit" and from_api and (404 in numbers or _mentions(said, _NOT_FOUND_MARKERS)):
        return TaskNotFound(msg, **where)
    if 429 in numbers or _mentions(said, _RATE_MARKERS):
        return RateLimited(msg, retry_after=retry_after, **where)
    if 503 in numbers:
        return Unavailable(msg, retry_after=retry_after, **where)
    if any(500 <= n < 600 for n in numbers):
        return ServerError(msg, **where)
    if numbers & {400, 422}:
        return InvalidParameters(msg, **where)
    if 404 in numbers:
        msg = f"{msg}; is MAXAPI_BASE_URL right?"
    return MaxApiError(msg, **where)


def _mentions(text: str, markers: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in markers)


def _data_words(data: Any) -> str:
    """Top-level keys and string values of an error's ``data``, for keyword checks."""
    if not isinstance(data, Mapping):
        return data if isinstance(data, str) else ""
    words = [str(k) for k in data]
    words += [v for v in data.values() if isinstance(v, str)]
    return " ".join(words)


def _categories(data: Any) -> tuple[str, ...]:
    raw = data.get("categories") if isinstance(data, Mapping) else None
    if isinstance(raw, Mapping):
        return tuple(str(name) for name, flagged in raw.items() if flagged is True)
    if isinstance(raw, list):
        return tuple(str(name) for name in raw if isinstance(name, str))
    return ()
