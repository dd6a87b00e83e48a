"""Logging, configured once at start-up.

A filter on the root handler masks every secret it was given, wherever it would
appear in a formatted line, so a token can never reach the log even through a
third-party library's message.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replace every known secret in a record's final message with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        text = message
        for secret in self._secrets:
            text = text.replace(secret, "***")
        if text != message:
            record.msg, record.args = text, None
        if record.exc_info and record.exc_text is None and self._secrets:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self._secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
        return True


def configure(level: str, secrets: Iterable[str] = ()) -> None:
    """Send every logger to stderr at ``level``, with secrets masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # discord.py's HTTP logger is chatty at DEBUG and echoes payloads.
    logging.getLogger("discord.http").setLevel(max(logging.getLevelName(level), logging.INFO))
