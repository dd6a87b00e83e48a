"""The model switchboard (``/settings models pause|resume``): a paused model is refused in
its server, with the moderators' reason, before anything is reserved; running jobs finish."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.domain.catalog import Catalog, Media
from bot.domain.errors import NotAllowed, UserFacingError
from bot.domain.guild_config import GuildConfig
from bot.services.guild_settings import Change, GuildSettingsService
from bot.text.i18n import t

MAX_REASON_CHARS = 200


def paused_model(
    paused: Mapping[str, str], catalog: Catalog, *model_ids: str
) -> tuple[str, str] | None:
    """(id, reason) of the first of ``model_ids`` paused, or of the model whose image
    variant it is (pausing a model pauses its image-to-image form too); else ``None``."""
    for model_id in model_ids:
        bases = [m.id for m in catalog.enabled() if m.with_images == model_id]
        for candidate in (model_id, *bases):
            if candidate in paused:
                return candidate, paused[candidate]
    return None


def refuse_paused(config: GuildConfig, catalog: Catalog, *model_ids: str) -> None:
    """Refuse a job whose model the server's moderators paused, saying why."""
    found = paused_model(config.paused_models, catalog, *model_ids)
    if found is None:
        return
    model, reason = found
    if reason:
        raise NotAllowed(
            "Moderators paused {model} in this server: {reason}. Choose another model.",
            model=f"`{model}`",
            reason=reason,
        )
    raise NotAllowed(
        "Moderators paused {model} in this server. Choose another model.", model=f"`{model}`"
    )


def clean_reason(reason: str | None) -> str:
    """One line, at most :data:`MAX_REASON_CHARS`, without a final full stop (the
    refusal adds its own)."""
    text = " ".join((reason or "").split())[:MAX_REASON_CHARS]
    return text.rstrip(" .。")


async def pause(
    settings: GuildSettingsService,
    guild_id: int,
    actor_id: int,
    model_id: str,
    reason: str | None,
    locale: str | None,
) -> Change:
    """Pause ``model_id`` in the server (again: a new reason), audited."""
    model_id = model_id.strip()
    if not settings.enabled(model_id):
        raise UserFacingError("Unknown model `{model}`: see /models for the list.", model=model_id)
    why = clean_reason(reason)

    def edit(config: GuildConfig) -> dict[str, dict[str, str]]:
        if config.paused_models.get(model_id) == why:
            raise UserFacingError("`{model}` is already paused.", model=model_id)
        return {"paused_models": {**config.paused_models, model_id: why}}

    updated = await settings.store.edit_guild_config(guild_id, edit)

    def summary(loc: str | None) -> str:
        if why:
            return t(loc, "paused `{model}`: {reason}", model=model_id, reason=why)
        return t(loc, "paused `{model}`", model=model_id)

    return await settings.changed(
        guild_id,
        actor_id,
        "settings.models",
        updated,
        summary,
        locale,
        target=model_id,
        paused=model_id,
        reason=why,
    )


async def resume(
    settings: GuildSettingsService,
    guild_id: int,
    actor_id: int,
    model_id: str,
    locale: str | None,
) -> Change:
    """Let members use a paused model again, audited."""
    model_id = model_id.strip()

    def edit(config: GuildConfig) -> dict[str, dict[str, str]]:
        if model_id not in config.paused_models:
            raise UserFacingError("`{model}` is not paused in this server.", model=model_id)
        return {"paused_models": {k: v for k, v in config.paused_models.items() if k != model_id}}

    updated = await settings.store.edit_guild_config(guild_id, edit)

    def summary(loc: str | None) -> str:
        return t(loc, "resumed `{model}`: members can use it again", model=model_id)

    return await settings.changed(
        guild_id,
        actor_id,
        "settings.models",
        updated,
        summary,
        locale,
        target=model_id,
        resumed=model_id,
    )


def paused_text(config: GuildConfig, locale: str | None) -> str:
    """The paused models for ``/settings show``: one line each, with the reason."""
    lines = [
        f"`{model}`" + (f" — {reason}" if reason else "")
        for model, reason in sorted(config.paused_models.items())
    ]
    return "\n".join(lines)[:1024] or t(locale, "none")


def skip_paused(
    preferred: Sequence[str | None],
    paused: Mapping[str, str],
    catalog: Catalog,
    media: Sequence[Media],
) -> list[str | None]:
    """Default-model candidates without the paused ones, then every other model of
    ``media`` not paused: a paused default falls back to the next model, not a refusal."""
    if not paused:
        return list(preferred)

    def free(model_id: str | None) -> bool:
        return model_id is not None and paused_model(paused, catalog, model_id) is None

    kept = [m for m in preferred if free(m)]
    kept += [m.id for kind in media for m in catalog.enabled(kind) if free(m.id)]
    return kept
