"""Discord's JSON errors, as the server raises and answers them."""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, Discord's message)
KNOWN_CODES: dict[int, tuple[int, str]] = {
    0: (400, "General error"),
    10003: (404, "Unknown Channel"),
    10004: (404, "Unknown Guild"),
    10007: (404, "Unknown Member"),
    10008: (404, "Unknown Message"),
    10013: (404, "Unknown User"),
    10015: (404, "Unknown Webhook"),
    10062: (404, "Unknown interaction"),
    10063: (404, "Unknown application command"),
    40005: (413, "Request entity too large"),
    40060: (400, "Interaction has already been acknowledged."),
    50001: (403, "Missing Access"),
    50005: (403, "Cannot edit a message authored by another user"),
    50006: (400, "Cannot send an empty message"),
    50007: (403, "Cannot send messages to this user"),
    50013: (403, "Missing Permissions"),
    50027: (401, "Invalid Webhook Token"),
    50035: (400, "Invalid Form Body"),
}

STATUS_MESSAGES: dict[int, str] = {
    429: "You are being rate limited.",
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
    503: "503: Service Unavailable",
    504: "504: Gateway Timeout",
}


class ApiError(Exception):
    """Raised anywhere in a handler; the middleware turns it into Discord's JSON error."""

    def __init__(
        self,
        code: int,
        *,
        status: int | None = None,
        message: str | None = None,
        errors: dict[str, Any] | None = None,
    ) -> None:
        known_status, known_message = KNOWN_CODES.get(code, (400, "Error"))
        self.code = code
        self.status = status if status is not None else known_status
        self.message = message or known_message
        self.errors = errors
        super().__init__(f"{self.status} {self.code} {self.message}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def invalid_form(field: str, message: str, code: str = "BASE_TYPE_INVALID") -> ApiError:
    """A 50035 naming the offending field, shaped like Discord's nested ``errors``."""
    return ApiError(50035, errors={field: {"_errors": [{"code": code, "message": message}]}})
