"""``/imagine``, ``/video`` and one command per model family, on one code path.

The commands are built at load time from :mod:`bot.command_specs` (which reads the
catalogue), so ``/seedream`` and ``/imagine`` differ only in their options: every one
of them ends in :meth:`Generate.run`, and every job — from a command or a result
button — starts through :func:`launch`.

The answer comes before any network call: the options are checked against the
catalogue, the attachments from their metadata, the bot's own permissions from the
interaction, and the job is recorded (quota reserved) in SQLite; then the progress
card is the answer, and only then does the job go to Max API. A refusal is an
ephemeral message that says what to do, and nothing is recorded or charged.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AtelierBot
from bot.attachments import AttachmentInfo, check_images
from bot.catalog import OPTION_FIELDS, GenerationRequest, Media, ValidationError
from bot.command_specs import (
    CommandSpec,
    OptionSpec,
    command_specs,
    effective_model,
    model_choices,
    resolve_model,
    value_choices,
)
from bot.errors import MissingBotPermissions, NotAllowed, UserFacingError
from bot.i18n import t
from bot.jobs import JobService, Requester
from bot.store import Job
from cogs.progress import render

log = logging.getLogger(__name__)

#: What the bot needs where a job runs: the card, the result files, the buttons.
NEEDED = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, attach_files=True
)
PERMISSION_NAMES = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
}
ANNOTATIONS: dict[str, Any] = {"string": str, "integer": int, "attachment": discord.Attachment}

Handler = Callable[[discord.Interaction, CommandSpec, dict[str, Any]], Awaitable[None]]


def locale_of(interaction: discord.Interaction) -> str:
    return str(interaction.locale)


def service(client: discord.Client) -> JobService:
    jobs = getattr(getattr(client, "services", None), "jobs", None)
    if not isinstance(jobs, JobService):
        raise UserFacingError("Atelier is starting up. Try again in a minute.")
    return jobs


def is_nsfw(channel: Any) -> bool:
    check = getattr(channel, "is_nsfw", None)
    return bool(check()) if callable(check) else False


def check_bot_permissions(interaction: discord.Interaction) -> None:
    """Refuse before accepting a paid job the bot could not deliver here: an
    interaction answer can succeed where a later channel message is refused."""
    have = interaction.app_permissions
    if have >= NEEDED:  # a bit mask compare: walking every flag cost 0.1 ms a command
        return
    locale = locale_of(interaction)
    missing = [
        t(locale, PERMISSION_NAMES[name])
        for name, wanted in NEEDED
        if wanted and not getattr(have, name)
    ]
    if missing:
        raise MissingBotPermissions(
            t(
                locale,
                "I need {permissions} in this channel to post results. Ask a moderator to "
                "grant them, or use another channel. Nothing was charged.",
                permissions=t(locale, ", ").join(missing),
            )
        )


def age_restricted(channel: Any) -> bool | None:
    """Whether ``channel`` is age-restricted; a thread is if its parent is. ``None`` when
    it cannot be told (a thread whose parent is not cached, a partial channel)."""
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    check = getattr(channel, "is_nsfw", None)
    return bool(check()) if callable(check) else None


def requester_of(interaction: discord.Interaction) -> Requester:
    user = interaction.user
    roles = tuple(r.id for r in user.roles) if isinstance(user, discord.Member) else ()
    channel_id = interaction.channel_id
    assert channel_id is not None
    return Requester(
        guild_id=interaction.guild_id,
        channel_id=channel_id,
        user_id=user.id,
        locale=locale_of(interaction),
        application_id=interaction.application_id,
        interaction_token=interaction.token,
        interaction_expires_at=interaction.expires_at.timestamp(),
        role_ids=roles,
        age_restricted=age_restricted(interaction.channel),
    )


async def launch(
    interaction: discord.Interaction,
    request: GenerationRequest,
    *,
    parent_job_id: int | None = None,
    action: str | None = None,
) -> Job:
    """Accept a job and answer ``interaction`` with its progress card, then submit it.

    The one way a job starts (commands, Reroll, Variations, Animate). Nothing before
    the answer leaves the machine; a refusal raises before anything is recorded."""
    jobs = service(interaction.client)
    check_bot_permissions(interaction)
    with jobs.answers.answering():
        job, position = await jobs.accept_with_position(
            request, requester_of(interaction), parent_job_id=parent_job_id, action=action
        )
        embed, view = await render(jobs, job, now=jobs.clock(), position=position)
        try:
            kwargs: dict[str, Any] = {
                "embed": embed,
                "allowed_mentions": discord.AllowedMentions.none(),
            }
            if view is not None:
                kwargs["view"] = view
            answer = await interaction.response.send_message(**kwargs)
        except Exception:
            # Nobody will see this job: drop it before it reaches Max API (no charge).
            try:
                await jobs.cancel(job.id, "the answer to the interaction failed")
            except Exception:
                log.exception("job %s: could not drop it after a failed answer", job.id)
            raise
    message_id = answer.message_id if answer is not None else None
    if message_id is None:
        try:
            message_id = (await interaction.original_response()).id
        except discord.HTTPException as exc:
            # The member saw the card: run the job anyway; only its card stays still.
            log.warning("job %s: no id for its card (%s); it will not be edited", job.id, exc)
    if message_id is not None:
        await jobs.answers.wait()  # the other commands of a burst first
        job = await jobs.store.update(
            job.id, progress_message_id=message_id, progress_edited_at=jobs.clock()
        )
    jobs.submit_soon(job)
    log.info(
        "job %s accepted: %s by %s in %s%s",
        job.id,
        job.model,
        job.user_id,
        job.channel_id,
        f" ({action} of #{parent_job_id})" if action else "",
    )
    return job


# -- building the commands -------------------------------------------------------------


def _annotation(option: OptionSpec) -> Any:
    if (
        option.kind == "integer"
        and not option.choices
        and (option.min_value is not None or option.max_value is not None)
    ):
        return app_commands.Range[int, option.min_value, option.max_value]
    if option.kind == "string" and option.max_length and not option.choices:
        return app_commands.Range[str, 1, option.max_length]
    return ANNOTATIONS[option.kind]


def build_command(
    spec: CommandSpec,
    handler: Handler,
    autocompleters: Mapping[str, Callable[..., Awaitable[list[app_commands.Choice[Any]]]]],
) -> app_commands.Command[Any, ..., None]:
    """A slash command whose options follow ``spec`` and whose body is ``handler``."""

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await handler(interaction, spec, values)

    params = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for option in spec.options:
        params.append(
            inspect.Parameter(
                option.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_annotation(option),
                default=inspect.Parameter.empty if option.required else None,
            )
        )
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    app_commands.describe(**{o.name: o.description for o in spec.options})(callback)
    choices = {
        o.name: [app_commands.Choice(name=c.name, value=c.value) for c in o.choices]
        for o in spec.options
        if o.choices
    }
    if choices:
        app_commands.choices(**choices)(callback)
    wanted: dict[str, Any] = {
        o.name: autocompleters[o.name] for o in spec.options if o.autocomplete
    }
    if wanted:
        app_commands.autocomplete(**wanted)(callback)
    app_commands.guild_only()(callback)
    return app_commands.Command(name=spec.name, description=spec.description, callback=callback)


class Generate(commands.Cog):
    """Owns the generation commands (added to the tree on load, removed on unload)."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.catalog = bot.services.catalog
        self.specs = command_specs(self.catalog)
        self._added: list[str] = []

    async def cog_load(self) -> None:
        for spec in self.specs:
            command = build_command(spec, self.run, self._autocompleters(spec))
            self.bot.tree.add_command(command)
            self._added.append(command.name)

    async def cog_unload(self) -> None:
        for name in self._added:
            self.bot.tree.remove_command(name)
        self._added.clear()

    # -- the one code path -------------------------------------------------------------

    async def run(
        self, interaction: discord.Interaction, spec: CommandSpec, values: dict[str, Any]
    ) -> None:
        """Every generation command: check, accept, answer with the card, submit."""
        locale = locale_of(interaction)
        jobs = service(self.bot)
        if interaction.guild_id is None or interaction.channel_id is None:
            raise UserFacingError(t(locale, "Use Atelier in a server channel."))
        attachments: list[discord.Attachment] = [
            values[name] for name in spec.image_options if values.get(name) is not None
        ]
        if attachments and not interaction.permissions.attach_files:
            raise NotAllowed(
                t(
                    locale,
                    "You can't attach files in this channel, so Atelier can't use your "
                    "images here. Leave the image options empty or use another channel.",
                )
            )
        options = {key: values[key] for key in OPTION_FIELDS if values.get(key) not in (None, "")}
        preferred = await self.preferred_models(jobs, interaction.guild_id, spec.media)
        model = resolve_model(
            self.catalog,
            spec,
            values.get("model"),
            options=options,
            image_count=len(attachments),
            preferred=preferred,
            locale=locale,
        )
        real = effective_model(self.catalog, model, len(attachments))
        urls = check_images(
            [AttachmentInfo(a.filename, a.size, a.url, a.content_type) for a in attachments],
            real,
            locale=locale,
        )
        request = GenerationRequest(
            model=model.id,
            prompt=str(values.get("prompt") or ""),
            options=options,
            image_urls=urls,
            nsfw_channel=is_nsfw(interaction.channel),
        )
        await launch(interaction, request)

    async def preferred_models(
        self, jobs: JobService, guild_id: int, media: tuple[Media, ...]
    ) -> list[str | None]:
        """The server's default model for each media, then the catalogue's."""
        config = await jobs.store.guild_config(guild_id)
        server = {"image": config.default_image_model, "video": config.default_video_model}
        found: list[str | None] = [server[m] for m in media]
        for m in media:
            with contextlib.suppress(ValidationError):
                found.append(self.catalog.default_model(m))
        return found

    # -- autocomplete --------------------------------------------------------------------

    def _autocompleters(
        self, spec: CommandSpec
    ) -> dict[str, Callable[..., Awaitable[list[app_commands.Choice[Any]]]]]:
        async def model(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[Any]]:
            allowed: Callable[[str], bool] | None = None
            jobs = getattr(self.bot.services, "jobs", None)
            if jobs is not None and interaction.guild_id is not None:
                config = await jobs.store.guild_config(interaction.guild_id)
                allowed = config.model_allowed
            found = model_choices(self.catalog, spec, str(current or ""), allowed=allowed)
            return [app_commands.Choice(name=c.name, value=c.value) for c in found]

        def values_for(key: str) -> Callable[..., Awaitable[list[app_commands.Choice[Any]]]]:
            async def complete(
                interaction: discord.Interaction, current: Any
            ) -> list[app_commands.Choice[Any]]:
                chosen = getattr(interaction.namespace, "model", None)
                model_id = str(chosen).strip() if chosen else None
                if not model_id or model_id not in spec.models:
                    media = spec.media[0]
                    try:
                        model_id = self.catalog.default_model(media)
                    except ValidationError:
                        return []
                    if model_id not in spec.models:
                        model_id = spec.listed[0] if spec.listed else None
                if model_id is None or model_id not in self.catalog:
                    return []
                found = value_choices(self.catalog.get(model_id), key, str(current or ""))
                return [app_commands.Choice(name=c.name, value=c.value) for c in found]

            return complete

        return {
            "model": model,
            "ratio": values_for("ratio"),
            "resolution": values_for("resolution"),
            "duration": values_for("duration"),
            "mode": values_for("mode"),
        }


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Generate(bot))
