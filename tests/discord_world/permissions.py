"""Permission bits and the little arithmetic the server needs (role union, owner and
administrator override, channel overwrites in Discord's order)."""

from __future__ import annotations

from collections.abc import Iterable

from discord import Permissions

VIEW_CHANNEL = Permissions(view_channel=True).value
SEND_MESSAGES = Permissions(send_messages=True).value
ATTACH_FILES = Permissions(attach_files=True).value
EMBED_LINKS = Permissions(embed_links=True).value
READ_MESSAGE_HISTORY = Permissions(read_message_history=True).value
MANAGE_GUILD = Permissions(manage_guild=True).value
MANAGE_MESSAGES = Permissions(manage_messages=True).value
MANAGE_THREADS = Permissions(manage_threads=True).value
SEND_MESSAGES_IN_THREADS = Permissions(send_messages_in_threads=True).value
ADMINISTRATOR = Permissions(administrator=True).value
ALL = Permissions.all().value
ALL_CHANNEL = Permissions.all_channel().value

EVERYONE_DEFAULT = Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
    use_application_commands=True,
).value

MODERATOR_DEFAULT = EVERYONE_DEFAULT | MANAGE_GUILD | MANAGE_MESSAGES

BOT_DEFAULT = Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
).value


def combine(role_permissions: Iterable[int], *, owner: bool = False, deny: int = 0) -> int:
    """What a member may do in a channel: the union of its roles, everything for the
    owner or an administrator, minus a channel's deny mask for this member."""
    value = 0
    for bits in role_permissions:
        value |= bits
    if owner or value & ADMINISTRATOR:
        return ALL
    return value & ~deny


def overwritten(
    base: int,
    *,
    everyone: tuple[int, int] = (0, 0),
    roles: Iterable[tuple[int, int]] = (),
    member: tuple[int, int] = (0, 0),
) -> int:
    """A channel's overwrites, each ``(allow, deny)``, applied to guild-wide ``base`` as
    Discord does: @everyone's, then the member's roles' (all denies, then all allows),
    then the member's own. Without View Channel nothing of the channel's is left."""
    if base & ADMINISTRATOR:
        return ALL
    value = (base & ~everyone[1]) | everyone[0]
    role_allow = role_deny = 0
    for allow, deny in roles:
        role_allow |= allow
        role_deny |= deny
    value = (value & ~role_deny) | role_allow
    value = (value & ~member[1]) | member[0]
    if not value & VIEW_CHANNEL:
        value &= ~ALL_CHANNEL
    return value
