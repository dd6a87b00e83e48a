"""Max API callbacks: the secret token in each job's callback URL, and the task id in a body."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any, Final

from bot.maxapi.task import task_id_of

_TOKEN_CHARS: Final = 32
_URL_SAFE: Final = frozenset(string.ascii_letters + string.digits + "-_")


def new_callback_token() -> str:
    """A fresh secret for one job's callback URL."""
    return secrets.token_urlsafe(_TOKEN_CHARS * 3 // 4)  # base64: 3 bytes make 4 characters


def is_callback_token(text: str) -> bool:
    """Whether ``text`` is shaped like a token :func:`new_callback_token` makes."""
    return len(text) == _TOKEN_CHARS and _URL_SAFE.issuperset(text)


def callback_task_id(body: bytes) -> str | None:
    """The task id in a callback body (``data.taskId``, or ``taskId`` at the top), or None."""
    try:
        payload: Any = json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError):  # incl. UnicodeDecodeError
        return None
    if not isinstance(payload, dict):
        return None
    return task_id_of(payload.get("data")) or task_id_of(payload)
