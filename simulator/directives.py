"""``[sim:...]`` directives in a prompt: how a try-out or a test steers one task.

Known directives (case-insensitive, anywhere in the prompt, several allowed)::

    [sim:fail=CONTENT_MODERATION]   end in FAILURE with that failure_reason
    [sim:fail=INVALID_PARAMETERS]   (also INSUFFICIENT_POINTS)
    [sim:fail=null]  or [sim:fail]  end in FAILURE with failure_reason null
    [sim:timeout]                   end in TIMEOUT
    [sim:cancel]                    end in CANCELLED (as if cancelled elsewhere)
    [sim:hold] / [sim:hold=PENDING] never end on its own: stay in SUBMITTED (or the
                                    given state) until cancelled or finished
    [sim:seconds=5]                 take 5 s (times ``speed``) instead of the model's time
    [sim:size=30MB]                 pad every result file to this size (B, KB, MB, GB;
                                    binary units: 1 MB = 1 MiB)
    [sim:count=3]                   return 3 images whatever ``n`` says

An unknown or malformed directive is a 400, so a typo never goes unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import bad_request

FAILURE_REASONS = ("CONTENT_MODERATION", "INVALID_PARAMETERS", "INSUFFICIENT_POINTS")
NON_TERMINAL = ("PENDING", "PROCESSING", "SUBMITTED")

_DIRECTIVE = re.compile(r"\[sim:([a-z_]+)(?:=([^\]]*))?\]", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclass
class Directives:
    """What the prompt asked the simulator to do with this task."""

    end_status: str = "SUCCESS"
    failure_reason: str | None = None
    hold: str | None = None
    seconds: float | None = None
    size: int | None = None
    count: int | None = None


def parse_size(text: str) -> int:
    """``"30MB"`` → 31457280; plain numbers are bytes."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 512KB, 30MB)")
    number, unit = match.groups()
    factor = _UNITS[(unit or "")[:1].lower()]
    return int(float(number) * factor)


def parse_directives(prompt: str) -> Directives:
    """Read every ``[sim:...]`` in the prompt; raise a 400 :class:`ApiError` on nonsense."""
    found = Directives()
    for match in _DIRECTIVE.finditer(prompt):
        name, value = match.group(1).lower(), match.group(2)
        text = match.group(0)
        if name == "fail":
            reason = (value or "null").strip().upper()
            if reason not in (*FAILURE_REASONS, "NULL", "NONE"):
                raise bad_request(
                    f"{text}: failure_reason must be one of {', '.join(FAILURE_REASONS)} or null"
                )
            found.end_status = "FAILURE"
            found.failure_reason = reason if reason in FAILURE_REASONS else None
        elif name in ("timeout", "cancel"):
            found.end_status = "TIMEOUT" if name == "timeout" else "CANCELLED"
            found.failure_reason = None
        elif name == "hold":
            state = (value or "SUBMITTED").strip().upper()
            if state not in NON_TERMINAL:
                raise bad_request(f"{text}: hold takes one of {', '.join(NON_TERMINAL)}")
            found.hold = state
        elif name == "seconds":
            found.seconds = _number(text, value, minimum=0.0)
        elif name == "size":
            try:
                found.size = parse_size(value or "")
            except ValueError as exc:
                raise bad_request(f"{text}: {exc}") from None
        elif name == "count":
            found.count = int(_number(text, value, minimum=1.0))
        else:
            raise bad_request(
                f"unknown simulator directive {text}; known: fail, timeout, cancel, hold, "
                "seconds, size, count"
            )
    return found


def _number(text: str, value: str | None, *, minimum: float) -> float:
    try:
        number = float(value or "")
    except ValueError:
        raise bad_request(f"{text}: expected a number") from None
    if number < minimum:
        raise bad_request(f"{text}: must be at least {minimum:g}")
    return number
