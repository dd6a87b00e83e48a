"""Which result files go into which Discord message, and what the message says. Result
``i`` is always in part ``i // 10``, so a retry can skip the parts already posted."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from bot.domain.units import human_bytes
from bot.text.i18n import t
from bot.text.markdown import escape_markdown

MAX_FILES_PER_MESSAGE = 10
MAX_CONTENT = 2000
MIN_PROMPT = 80  # the prompt is cut to fit, but never below this while links fit


class Outcome(StrEnum):
    """What became of one result URL on this attempt."""

    FILE = "file"  # downloaded: attach it if it fits the upload limit
    TOO_BIG = "too_big"  # over the download cap (the upload limit): link
    REFUSED_BY_DISCORD = "refused_by_discord"  # Discord answered 413 / 40005: link
    NOT_MEDIA = "not_media"  # not an image or video we can attach: link
    UNREACHABLE = "unreachable"  # downloads kept failing: link, let the member try
    GONE = "gone"  # 404 / 403: nothing left to show


LINK_REASONS: dict[Outcome, str] = {
    Outcome.TOO_BIG: "too large to upload here",
    Outcome.REFUSED_BY_DISCORD: "too large for this channel",
    Outcome.NOT_MEDIA: "not a file Discord can show",
    Outcome.UNREACHABLE: "could not be fetched right now",
}


@dataclass(frozen=True, slots=True)
class ResultFile:
    """One result URL and what became of it; ``path`` is the downloaded file, if any."""

    index: int  # position in the job's ``result_urls``
    url: str
    outcome: Outcome
    size: int | None = None  # known size, for the link line
    path: Path | None = None

    @property
    def number(self) -> int:
        """1-based, as members count."""
        return self.index + 1


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """One message: the files it attaches and the results it shows as links or notes."""

    part: int  # 0-based; the position of this message's id in ``result_message_ids``
    total: int
    attachments: tuple[ResultFile, ...] = ()
    links: tuple[ResultFile, ...] = ()
    gone: tuple[ResultFile, ...] = ()

    def without_largest_attachment(self) -> MessagePlan:
        """The same message with its largest attachment turned into a link (after 40005)."""
        if not self.attachments:
            return self
        largest = max(self.attachments, key=lambda r: (r.size or 0, r.index))
        link = replace(largest, outcome=Outcome.REFUSED_BY_DISCORD, path=None)
        return replace(
            self,
            attachments=tuple(r for r in self.attachments if r is not largest),
            links=tuple(sorted((*self.links, link), key=lambda r: r.index)),
        )


def part_count(url_count: int) -> int:
    return max(1, math.ceil(url_count / MAX_FILES_PER_MESSAGE))


def part_of(index: int) -> int:
    return index // MAX_FILES_PER_MESSAGE


def plan_messages(
    results: Sequence[ResultFile], *, url_count: int, upload_limit: int
) -> list[MessagePlan]:
    """The messages for ``results`` (some of the job's URLs, or all); a file over
    ``upload_limit`` becomes a link, and a part with no attachments is still a message."""
    total = part_count(url_count)
    by_part: dict[int, list[ResultFile]] = {}
    for result in sorted(results, key=lambda r: r.index):
        by_part.setdefault(part_of(result.index), []).append(result)
    plans = []
    for part, members in sorted(by_part.items()):
        attachments: list[ResultFile] = []
        links: list[ResultFile] = []
        gone: list[ResultFile] = []
        for result in members:
            if result.outcome == Outcome.GONE:
                gone.append(result)
            elif result.path is None:
                links.append(result)
            elif (result.size or 0) <= upload_limit:
                attachments.append(result)
            else:
                links.append(replace(result, outcome=Outcome.TOO_BIG, path=None))
        plans.append(MessagePlan(part, total, tuple(attachments), tuple(links), tuple(gone)))
    return plans


# -- rendering ---------------------------------------------------------------------------

_MARKER = re.compile(r"job #(\d+)(?: · part (\d+)/(\d+))?\s*$")


def link_line(result: ResultFile, expires_at: float | None, locale: str | None = None) -> str:
    reason = t(locale, LINK_REASONS.get(result.outcome, "not attached"))
    size = f", {human_bytes(result.size)}" if result.size else ""
    expiry = t(locale, " (link expires <t:{at}:R>)", at=int(expires_at)) if expires_at else ""
    return t(
        locale,
        "Result {number} is {reason}{size}: {url}{expiry}",
        number=result.number,
        reason=reason,
        size=size,
        url=result.url,
        expiry=expiry,
    )


def gone_line(result: ResultFile, locale: str | None = None) -> str:
    return t(locale, "Result {number} is no longer available from Max API.", number=result.number)


def marker(job_id: int, part: int, total: int) -> str:
    """The last line of every result message; how an earlier post is found again."""
    suffix = f" · part {part + 1}/{total}" if total > 1 else ""
    return f"job #{job_id}{suffix}"


def parse_marker(content: str) -> tuple[int, int, int] | None:
    """``(job_id, part, total)`` from a result message's content, or ``None``."""
    last = content.rstrip().rsplit("\n", 1)[-1]
    found = _MARKER.search(last)
    if found is None:
        return None
    job_id, part, total = found.groups()
    if part is None:
        return int(job_id), 0, 1
    return int(job_id), int(part) - 1, int(total)


def render_content(
    *,
    user_id: int,
    prompt: str,
    job_id: int,
    plan: MessagePlan,
    expires_at: float | None,
    model: str | None = None,
    locale: str | None = None,
) -> str:
    """Mention, prompt, link lines and marker in at most 2000 characters: the prompt is
    cut first, links are never cut, and the marker stays English so it can be parsed."""
    head = f"<@{user_id}> "
    footer_bits = [f"`{model}`"] if model else []
    footer = "-# " + " · ".join([*footer_bits, marker(job_id, plan.part, plan.total)])
    lines = [link_line(r, expires_at, locale) for r in plan.links] + [
        gone_line(r, locale) for r in plan.gone
    ]

    def size(body: list[str], prompt_chars: int) -> int:
        return len(head) + prompt_chars + sum(len(x) + 1 for x in body) + 1 + len(footer)

    def summary(count: int) -> str:
        return t(locale, "{count} more result(s) could not be listed here.", count=count)

    kept = list(lines)
    if size(kept, MIN_PROMPT) > MAX_CONTENT:
        while kept and size([*kept, summary(len(lines) - len(kept))], MIN_PROMPT) > MAX_CONTENT:
            kept.pop()
        kept.append(summary(len(lines) - len(kept)))
    room = MAX_CONTENT - size(kept, 0)
    shown = _fit(escape_markdown(" ".join(prompt.split())), room)
    text = "\n".join([head + shown, *kept, footer])
    return text[:MAX_CONTENT]


def _fit(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    if room <= 1:
        return ""
    cut = text[: room - 1]
    if cut.endswith("\\") and not cut.endswith("\\\\"):
        cut = cut[:-1]  # never leave a lone escape at the end
    return cut + "…"
