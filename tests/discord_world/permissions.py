"""Permission bits and the little arithmetic the server needs (role union, owner and
administrator override, a deny mask on the bot per channel)."""

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
ADMINISTRATOR = Permissions(administrator=True).value
ALL = Permissions.all().value

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
