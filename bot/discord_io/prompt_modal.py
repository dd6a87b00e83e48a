"""Modals that ask for a prompt: Remix (the prompt and the model's main options) and
Animate (how the image should move). What the member typed goes to a callback, so any
cog can open one; a modal's errors take the common error path."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord

from bot.discord_io.ui import handle_error
from bot.domain.catalog import OPTION_FIELDS, Model
from bot.domain.job import Job
from bot.text.i18n import t

#: Discord's most for a modal title, a label, a placeholder and a text input's value.
TITLE_MAX, LABEL_MAX, PLACEHOLDER_MAX, TEXT_MAX = 45, 45, 100, 4000
#: How long an open modal is remembered (the member may take a while to write).
MODAL_TIMEOUT = 1800.0
PROMPT = "prompt"
MOTION = "motion"
#: The options a Remix modal offers (when the model takes them), with their labels.
REMIX_OPTIONS: dict[str, str] = {
    "ratio": "Ratio",
    "resolution": "Resolution",
    "duration": "Duration (seconds)",
}

Submit = Callable[[discord.Interaction, dict[str, str]], Awaitable[None]]


class PromptModal(discord.ui.Modal):
    """A modal of text inputs; on submit, ``submit`` gets the typed texts by key."""

    def __init__(self, *, title: str, custom_id: str, submit: Submit) -> None:
        super().__init__(title=title[:TITLE_MAX], custom_id=custom_id, timeout=MODAL_TIMEOUT)
        self.submit = submit
        self.inputs: dict[str, discord.ui.TextInput[Any]] = {}

    def add_text(
        self,
        key: str,
        label: str,
        *,
        default: str | None = None,
        placeholder: str | None = None,
        required: bool = False,
        paragraph: bool = False,
        max_length: int = TEXT_MAX,
    ) -> None:
        """One labelled text input, its value read back under ``key``."""
        field: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id=key,
            style=discord.TextStyle.paragraph if paragraph else discord.TextStyle.short,
            default=default[:max_length] if default else None,
            placeholder=placeholder[:PLACEHOLDER_MAX] if placeholder else None,
            required=required,
            max_length=max_length,
        )
        self.inputs[key] = field
        self.add_item(discord.ui.Label(text=label[:LABEL_MAX], component=field))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.submit(interaction, {key: str(f.value or "") for key, f in self.inputs.items()})

    async def on_error(  # type: ignore[override]  # a modal has no failing item
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await handle_error(interaction, error)


def modal_id(action: str, job_id: int) -> str:
    """A custom id of its own for each modal opened: discord.py keeps open modals by custom
    id alone, so two members remixing one job at once must not share one."""
    return f"atelier-modal:{action}:{job_id}:{secrets.token_hex(8)}"


def prompt_limit(catalog_limit: int) -> int:
    """The longest prompt a modal takes: the catalogue's limit, within Discord's 4000."""
    return max(1, min(catalog_limit, TEXT_MAX))


def remix_keys(model: Model) -> list[str]:
    """The Remix options ``model`` takes (ratio, resolution; duration for videos)."""
    return [key for key in REMIX_OPTIONS if model.option(OPTION_FIELDS[key]) is not None]


def remix_modal(job: Job, model: Model, *, locale: str, limit: int, submit: Submit) -> PromptModal:
    """The Remix modal ("Remix job #N"): the prompt and main options, prefilled with the job's."""
    modal = PromptModal(
        title=t(locale, "Remix job #{job_id}", job_id=job.id),
        custom_id=modal_id("remix", job.id),
        submit=submit,
    )
    modal.add_text(
        PROMPT,
        t(locale, "Prompt"),
        default=job.prompt,
        required=True,
        paragraph=True,
        max_length=prompt_limit(limit),
    )
    for key in remix_keys(model):
        spec = model.option(OPTION_FIELDS[key])
        assert spec is not None
        value = job.options.get(key)
        modal.add_text(
            key,
            t(locale, REMIX_OPTIONS[key]),
            default=None if value in (None, "") else str(value),
            placeholder=t(locale, "{allowed} (empty: the default)", allowed=spec.allowed_text()),
            max_length=100,
        )
    return modal


def remix_options(
    options: Mapping[str, Any], typed: Mapping[str, str], keys: list[str]
) -> dict[str, Any]:
    """The job's options with the modal's typed over them (an emptied one: the default)."""
    chosen = dict(options)
    for key in keys:
        text = typed.get(key, "").strip()
        if text:
            chosen[key] = text
        else:
            chosen.pop(key, None)
    return chosen


def animate_modal(job: Job, *, locale: str, limit: int, submit: Submit) -> PromptModal:
    """The Animate modal ("Animate job #N"): how it should move (empty: the image's prompt)."""
    modal = PromptModal(
        title=t(locale, "Animate job #{job_id}", job_id=job.id),
        custom_id=modal_id("animate", job.id),
        submit=submit,
    )
    modal.add_text(
        MOTION,
        t(locale, "How should it move?"),
        placeholder=t(locale, "Leave empty to use the image's prompt."),
        paragraph=True,
        max_length=prompt_limit(limit),
    )
    return modal
