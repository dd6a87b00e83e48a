"""Injected interactions: the payload Discord would send, typed from the synced command,
and the handle a test awaits (``wait_response``, ``wait_followup``, …)."""

# Waiting helpers take a timeout on purpose: tests read better with one argument.

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tests.discord_world.models import (
    JSON,
    Attachment,
    Callback,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    User,
)
from tests.discord_world.shards import Shard, shard_of
from tests.discord_world.waiting import NotDelivered

if TYPE_CHECKING:
    from tests.discord_world.world import World

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = (
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
)

PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5


class InjectedInteraction:
    """One interaction sent to the bot, and everything the bot answered to it."""

    def __init__(
        self,
        world: World,
        *,
        id: int,
        token: str,
        type: int,
        payload: JSON,
        guild: Guild,
        channel: Channel,
        member: Member,
        message: Message | None = None,
    ) -> None:
        self.world = world
        self.id = id
        self.token = token
        self.type = type
        self.payload = payload
        self.guild = guild
        self.channel = channel
        self.member = member
        self.message = message
        """The message a component click came from."""
        self.created = world.clock.now()
        self.callback: Callback | None = None
        self.original: Message | None = None
        self.followups: list[Message] = []
        self.rejections: list[tuple[str, int]] = []
        """``(route, code)`` of each request on this interaction the server refused."""
        self.delivered_to: list[Shard | None] = []
        """The shard of each session that got it (None: unsharded); empty: nobody did."""
        self._expired = False

    @property
    def delivered(self) -> bool:
        return bool(self.delivered_to)

    def _require_delivered(self) -> None:
        if not self.delivered:
            shards = self.world.gateway.live_shards()
            counts = sorted({s[1] for s in shards if s is not None})
            where = ", ".join(f"shard {shard_of(self.guild.id, n)} of {n}" for n in counts)
            raise NotDelivered(
                f"interaction {self.describe()} reached no session: its guild is on "
                f"{where or 'no shard'}; connected sessions: {shards}"
            )

    @property
    def user(self) -> User:
        return self.member.user

    @property
    def expired(self) -> bool:
        age = self.world.clock.now() - self.created
        return self._expired or age >= self.world.token_lifetime

    def expire(self) -> None:
        """The token dies now: later webhook calls get 10015 (or the world's choice)."""
        self._expired = True

    @property
    def response(self) -> Callback:
        if self.callback is None:
            raise AssertionError(f"interaction {self.describe()} was not answered (yet)")
        return self.callback

    @property
    def messages(self) -> list[Message]:
        """The original response (if it is a message) and every followup."""
        found = [self.original] if self.original is not None else []
        return found + [m for m in self.followups if m is not self.original]

    def describe(self) -> str:
        data = self.payload.get("data", {})
        label = data.get("name") or data.get("custom_id") or "?"
        return f"#{self.id} ({label})"

    async def wait_response(self, timeout: float = 10.0) -> Callback:
        """The callback (type + data) once the bot answered."""
        self._require_delivered()
        return await self.world.wait_for(
            lambda: self.callback,
            timeout=timeout,
            what=lambda: (
                f"a response to interaction {self.describe()}; "
                f"rejected: {self.rejections}; server errors: {self.world.server_errors}"
            ),
        )

    async def wait_followup(
        self, predicate: Callable[[Message], bool] | None = None, timeout: float = 10.0
    ) -> Message:
        """The first followup (in order) that matches."""
        self._require_delivered()

        def find() -> Message | None:
            for msg in self.followups:
                if predicate is None or predicate(msg):
                    return msg
            return None

        return await self.world.wait_for(
            find,
            timeout=timeout,
            what=lambda: f"a followup to {self.describe()}; have {self.followups}",
        )

    async def wait_original(
        self, predicate: Callable[[Message], bool] | None = None, timeout: float = 10.0
    ) -> Message:
        """The original response message once it matches (e.g. after an edit)."""
        self._require_delivered()

        def find() -> Message | None:
            msg = self.original
            if msg is not None and (predicate is None or predicate(msg)):
                return msg
            return None

        return await self.world.wait_for(
            find,
            timeout=timeout,
            what=lambda: (
                f"the original response of {self.describe()} to match; it is {self.original!r}"
            ),
        )

    async def choices(self, timeout: float = 10.0) -> list[JSON]:
        """Autocomplete: the choices the bot offered."""
        callback = await self.wait_response(timeout)
        if callback.type != 8:
            raise AssertionError(
                f"expected an autocomplete result, got callback type {callback.type}"
            )
        return callback.choices

    def __repr__(self) -> str:
        answered = "unanswered" if self.callback is None else f"callback={self.callback.type}"
        return f"<InjectedInteraction {self.describe()} {answered}>"


# -- typed options ------------------------------------------------------------------


def build_command_data(
    world: World,
    command: JSON,
    path: list[str],
    values: Mapping[str, Any],
    *,
    guild: Guild,
    focused: str | None,
    strict: bool,
) -> JSON:
    """``data`` of an APPLICATION_COMMAND or AUTOCOMPLETE interaction."""
    resolved: dict[str, dict[str, JSON]] = {}
    schema: list[JSON] = command.get("options", [])
    leaf_options: list[JSON] = []
    top: list[JSON] = leaf_options
    holder: list[JSON] | None = None
    for name in path:
        option = _find(schema, name, f"/{' '.join(path)}")
        if option["type"] not in (SUB_COMMAND, SUB_COMMAND_GROUP):
            raise ValueError(f"{name!r} is an option, not a subcommand of /{command['name']}")
        node: JSON = {"name": name, "type": option["type"], "options": []}
        if holder is None:
            top = [node]
        else:
            holder.append(node)
        holder = node["options"]
        schema = option.get("options", [])
    if holder is not None:
        leaf_options = holder
    if strict and any(o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in schema):
        names = [o["name"] for o in schema]
        raise ValueError(f"/{command['name']} needs a subcommand: one of {names}")
    for name, value in values.items():
        option = _find(schema, name, f"/{command['name']}") if strict else _loose(schema, name)
        kind = option["type"]
        entry: JSON = {"name": name, "type": kind}
        if name == focused:
            entry["value"] = str(value)
            entry["focused"] = True
        else:
            entry["value"] = _convert(world, option, value, guild, resolved, strict)
        leaf_options.append(entry)
    if strict and focused is None:
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
        if missing:
            raise ValueError(f"/{command['name']} requires {missing}")
    if focused is not None and focused not in values:
        raise ValueError(f"the focused option {focused!r} needs a value (the text typed so far)")
    data: JSON = {
        "id": command["id"],
        "name": command["name"],
        "type": command.get("type", 1),
        "options": top if path else leaf_options,
    }
    if resolved:
        data["resolved"] = resolved
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    return data


def _find(schema: list[JSON], name: str, where: str) -> JSON:
    for option in schema:
        if option["name"] == name:
            return option
    raise ValueError(f"{where} has no option {name!r}; it has {[o['name'] for o in schema]}")


def _loose(schema: list[JSON], name: str) -> JSON:
    for option in schema:
        if option["name"] == name:
            return option
    return {"name": name, "type": STRING}


def _convert(
    world: World,
    option: JSON,
    value: Any,
    guild: Guild,
    resolved: dict[str, dict[str, JSON]],
    strict: bool,
) -> Any:
    kind = option["type"]
    name = option["name"]
    if kind == STRING:
        text = str(value)
        if strict:
            lo, hi = option.get("min_length", 0), option.get("max_length", 6000)
            if not lo <= len(text) <= hi:
                raise ValueError(f"{name!r} must be {lo}..{hi} characters")
            _check_choice(option, text)
        return text
    if kind in (INTEGER, NUMBER):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name!r} takes a number, got {value!r}")
        number: int | float = int(value) if kind == INTEGER else float(value)
        if strict:
            lo, hi = option.get("min_value"), option.get("max_value")
            if (lo is not None and number < lo) or (hi is not None and number > hi):
                raise ValueError(f"{name!r} must be within {lo}..{hi}")
            _check_choice(option, number)
        return number
    if kind == BOOLEAN:
        return bool(value)
    if kind == ATTACHMENT:
        if not isinstance(value, Attachment):
            raise ValueError(f"{name!r} takes world.attachment(...), got {value!r}")
        resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
        return str(value.id)
    if kind in (USER, MENTIONABLE) and isinstance(value, Member | User):
        user = value.user if isinstance(value, Member) else value
        resolved.setdefault("users", {})[str(user.id)] = user.payload()
        member = guild.members.get(user.id)
        if member is not None:
            resolved.setdefault("members", {})[str(user.id)] = member.payload(
                permissions=guild.permissions_for(member), with_user=False
            )
        return str(user.id)
    if kind in (ROLE, MENTIONABLE) and isinstance(value, Role):
        resolved.setdefault("roles", {})[str(value.id)] = value.payload()
        return str(value.id)
    if kind == CHANNEL and isinstance(value, Channel):
        entry = value.payload(permissions=world.bot_permissions(value))
        resolved.setdefault("channels", {})[str(value.id)] = entry
        return str(value.id)
    if not strict:
        return value
    raise ValueError(f"{name!r} (option type {kind}) cannot take {value!r}")


def _check_choice(option: JSON, value: Any) -> None:
    choices = option.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(
            f"{option['name']!r} must be one of {[c['value'] for c in choices]}; "
            "a member cannot send anything else (use strict=False to try)"
        )


def component_type_of(message: Message, custom_id: str) -> int:
    return int(message.component(custom_id).get("type", 2))
