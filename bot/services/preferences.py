"""``/prefer``: a member's own defaults in one server (models, ratio, resolution) and
whether a long job's end is also told by DM; checked against the catalogue and the
server's offer, read afresh for every command (nothing cached across processes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.domain.catalog import Catalog, Media
from bot.domain.errors import UserFacingError
from bot.domain.guild_config import GuildConfig
from bot.domain.job import Job
from bot.services.guild_settings import RESET_KEYWORDS, check_model, check_option
from bot.store import Store
from bot.store.prefs import PREF_COLUMNS

#: What ``notify`` takes: ``channel`` (the default: nothing extra) or ``dm``.
NOTIFY_VALUES = ("channel", "dm")
#: A job that ran longer than this (accept to end) is told by DM to who asked for it.
DM_AFTER_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class PrefsView:
    """What ``/prefer show`` needs: the member's preferences, the server's settings, and
    whether the member's DMs were found closed."""

    prefs: dict[str, str]
    config: GuildConfig
    dm_closed: bool


def ran_long(job: Job) -> bool:
    """Whether the job took longer than :data:`DM_AFTER_SECONDS` from accept to its end."""
    end = job.finished_at if job.finished_at is not None else job.updated_at
    return end - job.created_at > DM_AFTER_SECONDS


class PreferenceService:
    """Members' preferences, and the bookkeeping of the DM a long job's end sends."""

    def __init__(
        self, store: Store, catalog: Catalog, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock

    async def layer(self, guild_id: int, user_id: int) -> dict[str, str]:
        """The member's preferences here (one indexed read; empty: none)."""
        return await self.store.member_prefs(guild_id, user_id)

    async def view(self, guild_id: int, user_id: int) -> PrefsView:
        prefs = await self.store.member_prefs(guild_id, user_id)
        config = await self.store.guild_config(guild_id)
        return PrefsView(prefs, config, await self.store.dm_closed(user_id))

    async def set(
        self, guild_id: int, user_id: int, given: Mapping[str, str | None]
    ) -> dict[str, str]:
        """Set the options given ("default" drops one); the preferences as they now are."""
        wanted = {k: v.strip() for k, v in given.items() if k in PREF_COLUMNS and v is not None}
        if not wanted:
            raise UserFacingError(
                "Give image_model, video_model, ratio, resolution or notify: what your jobs "
                "here should use when a command does not say (/prefer show lists yours)."
            )
        config = await self.store.guild_config(guild_id)
        values: dict[str, str | None] = {}
        for key, value in wanted.items():
            if value.lower() in RESET_KEYWORDS:
                values[key] = None
            elif key == "image_model":
                values[key] = self._checked_model(config, value, "image")
            elif key == "video_model":
                values[key] = self._checked_model(config, value, "video")
            elif key == "notify":
                values[key] = self._checked_notify(value)
            else:
                values[key] = check_option(self.catalog, key, value)
        saved = await self.store.set_member_prefs(guild_id, user_id, values, at=self.clock())
        if values.get("notify") == "dm":  # they may have opened their DMs since
            await self.store.clear_dm_closed(user_id)
        return saved

    async def reset(self, guild_id: int, user_id: int) -> bool:
        """Forget the member's preferences here; ``False``: there were none."""
        return await self.store.reset_member_prefs(guild_id, user_id)

    # -- checks -----------------------------------------------------------------------------

    def _checked_model(self, config: GuildConfig, model_id: str, media: Media) -> str:
        """An enabled model of this media that this server offers (allowed, not paused)."""
        model_id = check_model(self.catalog, model_id, media)
        if not config.model_offered(model_id):
            raise UserFacingError(
                "`{model}` is not offered in this server right now: pick one from the list.",
                model=model_id,
            )
        return model_id

    @staticmethod
    def _checked_notify(value: str) -> str:
        if value.lower() not in NOTIFY_VALUES:
            raise UserFacingError("notify is channel or dm.")
        return value.lower()

    # -- the DM at a long job's end ---------------------------------------------------------

    async def wants_dm(self, job: Job) -> bool:
        """Whether the job's end should be told by DM: it ran long, its owner asked for DMs
        in its server, and their DMs were not found closed."""
        if job.dm_notified_at is not None or job.guild_id is None or not ran_long(job):
            return False
        prefs = await self.store.member_prefs(job.guild_id, job.user_id)
        if prefs.get("notify") != "dm":
            return False
        return not await self.store.dm_closed(job.user_id)

    async def claim_dm(self, job: Job) -> bool:
        """Claim the job's one DM (compare-and-set): ``True`` for the one caller that sends."""
        return await self.store.claim_dm_notice(job.id, at=self.clock())

    async def dms_closed(self, user_id: int) -> None:
        """Discord refused a DM to the member for good (50007): never try again in a loop."""
        await self.store.mark_dm_closed(user_id, at=self.clock())
