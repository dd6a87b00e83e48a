"""The big gateway and login payloads: READY, GUILD_CREATE, the application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.discord_world.models import JSON, Channel, Guild, iso

if TYPE_CHECKING:
    from tests.discord_world.world import World


def ready_payload(world: World, session_id: str, resume_url: str, guilds: list[Guild]) -> JSON:
    """READY listing ``guilds`` (the session's shard's) as unavailable stubs."""
    user = world.bot_user.payload() | {"verified": True, "mfa_enabled": False}
    return {
        "v": 10,
        "user": user,
        "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_url,
        "application": {"id": str(world.application_id), "flags": 0},
        "private_channels": [],
        "relationships": [],
        "user_settings": {},
        "geo_ordered_rtc_regions": [],
    }


def guild_create_payload(world: World, guild: Guild) -> JSON:
    """Complete, so discord.py counts it as such: ``member_count`` equals the members sent."""
    channels = [c for c in guild.channels.values() if not c.deleted and not c.is_thread]
    threads = [c for c in guild.channels.values() if c.is_thread and not c.archived]
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "owner_id": str(guild.owner_id),
        "unavailable": False,
        "large": False,
        "member_count": len(guild.members),
        "joined_at": iso(guild.joined_at),
        "premium_tier": guild.premium_tier,
        "premium_subscription_count": 0,
        "preferred_locale": guild.locale,
        "features": [],
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "afk_timeout": 300,
        "system_channel_flags": 0,
        "roles": [r.payload() for r in guild.roles.values()],
        "channels": [_guild_channel(world, c) for c in channels],
        "members": [m.payload() for m in guild.members.values()],
        "emojis": [],
        "stickers": [],
        "threads": [t.payload() for t in threads if not t.deleted],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def _guild_channel(world: World, channel: Channel) -> JSON:
    data = channel.payload(bot_id=world.bot_user.id)
    data.pop("guild_id", None)  # GUILD_CREATE's channels carry no guild_id
    return data


def application_payload(world: World) -> JSON:
    """``interactions_endpoint_url`` must be null, or discord.py warns that it will
    receive no interactions."""
    return {
        "id": str(world.application_id),
        "name": world.bot_user.username,
        "icon": None,
        "description": "",
        "summary": "",
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": world.owner_user.payload(),
        "team": None,
        "verify_key": "0" * 64,
        "flags": 0,
        "interactions_endpoint_url": None,
        "bot": world.bot_user.payload(),
        "redirect_uris": [],
        "tags": [],
    }
