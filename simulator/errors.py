"""The one error type the routes turn into a Max API error envelope."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer ``{"code": code, "msg": msg[, "data": data]}`` with a non-zero code."""

    def __init__(self, code: int, msg: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.data = data

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            body["data"] = self.data
        return body


def bad_request(msg: str) -> ApiError:
    return ApiError(400, msg)
