"""The progress card: what the message that answers a generation command says.

One card per job, edited in place as the job moves: the prompt, the model, the options,
who asked, the state, the position among the server's waiting jobs, the time so far and
the expected time (from the model's typical time), and the estimated cost. Times use
Discord's relative timestamps (``<t:…:R>``), which every client keeps current, so the
card stays right between edits without spending an edit per second.

Pure: a :class:`Card` of plain strings built from a :class:`Job`; the progress updater
turns it into an embed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.domain.catalog import Model
from bot.domain.job import QUEUE_COUNT_CAP, Job
from bot.domain.job_states import JobState, ending_refunded
from bot.domain.media import Kind, count_kinds
from bot.text.i18n import t
from bot.text.markdown import escape_markdown

S = JobState

Tone = Literal["active", "done", "failed", "cancelled"]

PROMPT_CHARS = 1000
#: States in which a job is waiting its turn (the queue position means something).
WAITING = frozenset({S.ACCEPTED, S.SUBMITTING, S.QUEUED})
#: Finished upstream, the files not yet posted (they queue behind the channel's limit).
POSTING = frozenset({S.SUCCEEDED, S.DELIVERING})
#: States in which Cancel can still stop the job.
CANCELLABLE = frozenset({S.ACCEPTED, S.SUBMITTING, S.QUEUED, S.RUNNING})

STATE_TEXT: dict[JobState, str] = {
    S.ACCEPTED: "Waiting to start",
    S.SUBMITTING: "Sending to Max API",
    S.QUEUED: "Queued at Max API",
    S.RUNNING: "Generating",
    S.SUCCEEDED: "Finished: fetching the result",
    S.DELIVERING: "Finished: posting the result",
    S.DELIVERED: "Done",
    S.REJECTED: "Refused by Max API",
    S.FAILED: "Failed",
    S.CANCELLED: "Cancelled",
    S.UNDELIVERABLE: "Could not be posted",
    S.EXPIRED: "Expired",
    S.LOST: "Lost",
}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True, slots=True)
class Card:
    title: str
    description: str
    fields: tuple[Field, ...]
    footer: str
    tone: Tone
    cancellable: bool


def usd(amount: float) -> str:
    """``$0.08``, ``$0.0012``: enough digits for Grok's tenths of a cent."""
    text = f"{amount:.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def cost_text(job: Job, locale: str | None) -> str:
    amount = usd(job.price_usd)
    if job.price_documented:
        return amount
    return t(locale, "about {amount} (estimate)", amount=amount)


#: How the card counts a job's input files, by kind.
INPUT_COUNTS: dict[Kind, str] = {
    "image": "{count} image(s)",
    "video": "{count} video(s)",
    "audio": "{count} audio file(s)",
}


def options_text(
    options: Mapping[str, Any],
    inputs: Sequence[str],
    locale: str | None,
    defaults: Mapping[str, Any] | None = None,
) -> str:
    """``ratio 16:9 · count 2 · 1 image(s) · 1 video(s)``, or the model's defaults;
    ``inputs``: the job's input links; ``defaults``: values the channel's or the server's
    defaults gave (marked as such)."""
    parts = [
        f"{t(locale, key)} {value}" for key, value in options.items() if value not in (None, "")
    ]
    parts += [
        t(locale, "{option} {value} (default)", option=t(locale, key), value=value)
        for key, value in (defaults or {}).items()
    ]
    parts += [
        t(locale, INPUT_COUNTS[kind], count=count)
        for kind, count in count_kinds(inputs).items()
        if count
    ]
    return " · ".join(parts) if parts else t(locale, "the model's defaults")


def defaults_given(job: Job) -> dict[str, Any]:
    """The ratio and resolution a job was sent that its member did not choose."""
    return {
        key: job.input[key]
        for key in ("ratio", "resolution")
        if job.options.get(key) in (None, "") and job.input.get(key) not in (None, "")
    }


def span(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``1 h 2 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def expected_at(job: Job, model: Model | None) -> float | None:
    """When the job should be done: its start plus the model's typical time."""
    if model is None:
        return None
    return (job.submitted_at or job.created_at) + model.typical_seconds


def failure_text(job: Job, locale: str | None) -> tuple[str, str]:
    """Why ``job`` ended, in ``locale``, and " You were not charged." when its refund is
    worth saying (the stored reason does not already say so)."""
    template = job.failure_message or "No reason was given."
    charge = ""
    if ending_refunded(job.state, job.failure_reason) and "not charged" not in template:
        charge = " " + t(locale, "You were not charged.")
    return t(locale, template, **(job.failure_fields or {})), charge


def state_text(job: Job, locale: str | None) -> str:
    text = t(locale, STATE_TEXT[job.state])
    if job.state.is_terminal and job.state != S.DELIVERED:
        reason, charge = failure_text(job, locale)
        if reason.rstrip(".。") == text:  # "Cancelled." says no more than the state
            reason, charge = charge.strip(), ""
        return t(locale, "{state}. {reason}{charge}", state=text, reason=reason, charge=charge)
    if job.state == S.ACCEPTED and job.submit_after is not None:  # Max API answered busy
        return t(
            locale, "Waiting for Max API (busy); next try <t:{at}:R>", at=int(job.submit_after)
        )
    return text


def tone_of(state: JobState) -> Tone:
    if state == S.DELIVERED:
        return "done"
    if state == S.CANCELLED:
        return "cancelled"
    if state.is_terminal:
        return "failed"
    return "active"


def progress_card(
    job: Job,
    *,
    model: Model | None,
    position: int | None,
    now: float,
    locale: str | None = None,
) -> Card:
    """The card for ``job`` as it stands at ``now``. ``position``: while it waits, how many
    of the server's waiting jobs were accepted before it (``Store.queue_position``); while
    its result waits to be posted, how many results are ahead in the channel."""
    locale = locale or job.locale
    kind = t(locale, "Video") if job.media == "video" else t(locale, "Image")
    prompt = escape_markdown(" ".join(job.prompt.split()))
    if len(prompt) > PROMPT_CHARS:
        prompt = prompt[: PROMPT_CHARS - 1] + "…"
    fields = [
        Field(t(locale, "Model"), f"{model.label if model else job.model}\n`{job.model}`"),
        Field(
            t(locale, "Options"),
            options_text(job.options, job.image_urls, locale, defaults_given(job)),
        ),
        *([Field(t(locale, "Style"), escape_markdown(job.style))] if job.style else []),
        Field(t(locale, "Requested by"), f"<@{job.user_id}>"),
        Field(t(locale, "State"), state_text(job, locale)[:1024], inline=False),
    ]
    if job.state in WAITING and position is not None:
        if position == 0:
            queue = t(locale, "next in this server's queue")
        elif position >= QUEUE_COUNT_CAP:  # counted no further (``Store.queue_position``)
            queue = t(locale, "{count} or more jobs ahead in this server's queue", count=position)
        else:
            queue = t(locale, "{count} job(s) ahead in this server's queue", count=position)
        fields.append(Field(t(locale, "Queue"), queue))
    elif job.state in POSTING and position:
        queue = t(locale, "posting, {count} result(s) ahead in this channel", count=position)
        fields.append(Field(t(locale, "Queue"), queue))
    fields.append(Field(t(locale, "Time"), _time_text(job, model, now, locale)))
    fields.append(Field(t(locale, "Cost"), cost_text(job, locale)))
    if job.state == S.DELIVERED and job.result_message_ids:
        url = jump_url(job.guild_id, job.channel_id, job.result_message_ids[0])
        fields.append(Field(t(locale, "Result"), f"[{t(locale, 'Jump to the result')}]({url})"))
    return Card(
        title=t(locale, "{kind} · job #{job_id}", kind=kind, job_id=job.id),
        description=prompt,
        fields=tuple(fields),
        footer=_footer(job, locale),
        tone=tone_of(job.state),
        cancellable=job.state in CANCELLABLE,
    )


def jump_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def _time_text(job: Job, model: Model | None, now: float, locale: str | None) -> str:
    if job.state.is_terminal or job.state in (S.SUCCEEDED, S.DELIVERING):
        end = job.upstream_done_at or job.finished_at or now
        return t(locale, "took {span}", span=span(end - job.created_at))
    started = t(locale, "started <t:{at}:R>", at=int(job.created_at))
    eta = expected_at(job, model)
    if eta is None:
        return started
    if eta <= now:
        return started + " · " + t(locale, "taking longer than usual")
    return started + " · " + t(locale, "expected <t:{at}:R>", at=int(eta) + 1)


def _footer(job: Job, locale: str | None) -> str:
    if job.state in CANCELLABLE:
        return t(
            locale,
            "Job #{job_id} · Cancel stops it; /models says when that is free.",
            job_id=job.id,
        )
    if job.state == S.DELIVERED:
        return t(locale, "Job #{job_id} · the result is posted below.", job_id=job.id)
    return t(locale, "Job #{job_id}", job_id=job.id)
