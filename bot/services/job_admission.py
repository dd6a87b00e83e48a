"""Admitting a job: the server's rules, the catalogue and the member's limits, all
checked before the job is recorded with its quota reserved."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from bot.domain.catalog import Catalog, GenerationRequest, PreparedJob
from bot.domain.confirmation import confirm_deadline
from bot.domain.content import refuse_adult
from bot.domain.errors import NotAllowed, UserFacingError
from bot.domain.guild_config import GuildConfig
from bot.domain.job import Job
from bot.domain.presets import option_defaults
from bot.domain.prompt import normalize_prompt
from bot.domain.quota import (
    Charge,
    OperatorCap,
    Usage,
    check,
    effective_limits,
    operator_periods,
    period_keys,
)
from bot.domain.word_filter import find_banned
from bot.services.job_messages import BLOCKED
from bot.services.model_switch import refuse_paused
from bot.store import Store

if TYPE_CHECKING:
    from bot.services.jobs import Requester


async def admit(
    store: Store,
    catalog: Catalog,
    request: GenerationRequest,
    requester: Requester,
    config: GuildConfig,
    now: float,
) -> PreparedJob:
    """Check who asks, where, with which words and which model; return the validated job.

    A refusal raises NotAllowed, UserFacingError or ValidationError."""
    block = await store.active_block(requester.guild_id or 0, requester.user_id, now)
    if block is not None:
        raise NotAllowed(
            BLOCKED[bool(block.get("until")), bool(block.get("reason"))],
            until=int(block.get("until") or 0),
            reason=block.get("reason"),
        )
    if not config.channel_allowed(requester.channel_id):
        raise NotAllowed("Atelier is not enabled in this channel. Ask a moderator where.")
    request = dataclasses.replace(request, prompt=normalize_prompt(request.prompt))
    if find_banned(request.prompt, config.banned_words) is not None:
        raise UserFacingError(
            "Your prompt contains a word or phrase this server does not allow. "
            "Rephrase it and try again."
        )
    refuse_paused(config, catalog, request.model)  # before its options: the reason first
    # What the command says > the member's preference > the channel's > the server's.
    member = await store.member_prefs(requester.guild_id or 0, requester.user_id)
    defaults = {**option_defaults(config, requester.channel_id, member), **request.guild_defaults}
    # Adult values off: refused just below in every channel, age-restricted or not.
    nsfw = request.nsfw_channel or not config.adult_allowed
    prepared = catalog.prepare(
        dataclasses.replace(request, guild_defaults=defaults, nsfw_channel=nsfw)
    )
    refuse_adult(config, prepared)
    refuse_paused(config, catalog, prepared.model.id)  # the image variant that really runs
    if not (config.model_allowed(prepared.model.id) or config.model_allowed(request.model)):
        allowed = ", ".join(sorted(config.allowed_models))
        raise NotAllowed("This server allows only these models: {models}.", models=allowed)
    return prepared


def job_row(
    request: GenerationRequest,
    requester: Requester,
    prepared: PreparedJob,
    parent_job_id: int | None,
    action: str | None,
) -> dict[str, Any]:
    """The columns of a newly accepted job."""
    return {
        "guild_id": requester.guild_id,
        "channel_id": requester.channel_id,
        "user_id": requester.user_id,
        "locale": requester.locale,
        "application_id": requester.application_id,
        "interaction_token": requester.interaction_token,
        "interaction_expires_at": requester.interaction_expires_at,
        "interaction_id": requester.interaction_id,
        "age_restricted": requester.age_restricted,
        "media": prepared.media,
        "model": prepared.model.id,
        "prompt": prepared.input["prompt"],  # normalised by admit()
        "options": {k: v for k, v in request.options.items() if v not in (None, "")},
        "input": prepared.input,
        "image_urls": list(request.image_urls),
        "price_usd": prepared.price_usd,
        "price_documented": prepared.price_documented,
        "outputs": prepared.outputs,
        "style": request.style,
        "parent_job_id": parent_job_id,
        "action": action,
    }


async def reserve(
    store: Store,
    requester: Requester,
    config: GuildConfig,
    prepared: PreparedJob,
    row: dict[str, Any],
    *,
    now: float,
    operator: OperatorCap,
) -> Job:
    """Record the job and reserve its quota in one transaction, if the limits allow it
    (else LimitReached is raised and nothing is recorded)."""
    guild_id = requester.guild_id or 0
    limits = effective_limits(
        await store.limit_layers(guild_id, requester.user_id, requester.role_ids)
    )
    exempt = bool(config.exempt_role_ids & set(requester.role_ids))
    video = prepared.media == "video"
    charge = Charge(
        images=0 if video else prepared.outputs, videos=1 if video else 0, usd=prepared.price_usd
    )
    policy = config.policy

    def gate(usage: Usage) -> None:
        check(limits, usage, charge, policy, now, exempt=exempt, operator=operator)

    # Held in the same insert, so no restart can find it unheld and submit it unasked.
    row["confirm_by"] = confirm_deadline(prepared.price_usd, config.confirm_above_usd, now)

    return await store.create_job_with_charge(
        row,
        charge,
        period_keys(now, policy.rollover_hour_utc),
        gate,
        operator_periods(now) if operator.active else None,
    )
