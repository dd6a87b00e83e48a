"""Member text placed inside Discord markdown, shown as typed."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\*_~|`>\[\]])")


def escape_markdown(text: str) -> str:
    """``text`` with Discord's markdown characters escaped (a prompt's ``*`` stays a ``*``)."""
    return _MARKDOWN.sub(r"\\\1", text)
