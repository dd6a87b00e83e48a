"""A guild's settings as plain values (stored by ``store.py``, edited by /settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.domain.quota import GuildPolicy

ChannelMode = Literal["all", "allow", "deny"]


@dataclass(frozen=True, slots=True)
class GuildConfig:
    guild_id: int
    default_image_model: str | None = None
    default_video_model: str | None = None
    allowed_models: frozenset[str] = frozenset()  # empty: every enabled model
    channel_mode: ChannelMode = "all"
    channel_ids: frozenset[int] = frozenset()
    banned_words: tuple[str, ...] = ()
    audit_channel_id: int | None = None
    exempt_role_ids: frozenset[int] = frozenset()
    daily_budget_usd: float | None = 20.0
    monthly_budget_usd: float | None = 200.0
    rollover_hour_utc: int = 0
    defaults: dict[str, str] = field(default_factory=dict)  # ratio/resolution defaults
    paused_models: dict[str, str] = field(default_factory=dict)  # model id -> reason ("" none)
    # channel id -> {"image_model"/"video_model"/"ratio"/"resolution": value}
    channel_defaults: dict[int, dict[str, str]] = field(default_factory=dict)
    styles: dict[str, str] = field(default_factory=dict)  # house style name -> text
    spoiler_channel_ids: frozenset[int] = frozenset()  # every result there is a spoiler
    adult_allowed: bool = True  # False: adult values (Grok's spicy mode) refused
    confirm_above_usd: float | None = 0.5  # a job estimated above asks Confirm first

    @property
    def policy(self) -> GuildPolicy:
        return GuildPolicy(
            daily_budget_usd=self.daily_budget_usd,
            monthly_budget_usd=self.monthly_budget_usd,
            rollover_hour_utc=self.rollover_hour_utc,
            exempt_role_ids=self.exempt_role_ids,
        )

    def channel_allowed(self, channel_id: int) -> bool:
        if self.channel_mode == "allow":
            return channel_id in self.channel_ids
        if self.channel_mode == "deny":
            return channel_id not in self.channel_ids
        return True

    def model_allowed(self, model_id: str) -> bool:
        return not self.allowed_models or model_id in self.allowed_models

    def model_offered(self, model_id: str) -> bool:
        """Allowed here and not paused: what the generation commands offer."""
        return self.model_allowed(model_id) and model_id not in self.paused_models
