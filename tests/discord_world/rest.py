"""The REST routes discord.py uses, answered from the world.

Handlers raise :class:`ApiError` for Discord's refusals; the server's middleware
turns those (and any bug here) into JSON errors, never into a 5xx.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from aiohttp import BodyPartReader, web

from tests.discord_world import permissions as perms
from tests.discord_world.cdn import GONE_TEXT
from tests.discord_world.errors import ApiError, invalid_form
from tests.discord_world.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InjectedInteraction,
)
from tests.discord_world.modals import check_modal
from tests.discord_world.models import (
    DM,
    EPHEMERAL,
    JSON,
    LOADING,
    Attachment,
    Callback,
    Channel,
    Message,
)
from tests.discord_world.payloads import application_payload, guild_create_payload
from tests.discord_world.validation import check_message

if TYPE_CHECKING:
    from tests.discord_world.world import World

API = "/api/v10"
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
KEPT_FLAGS = EPHEMERAL | SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS

PAYLOAD_KEY = web.RequestKey("payload", object)
UPLOADS_KEY = web.RequestKey("uploads", list)
REFRESH_MAX = 50
"""Links one ``POST /attachments/refresh-urls`` takes."""


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """discord.py parses a body as JSON only when Content-Type is exactly this."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def no_content() -> web.Response:
    return web.Response(status=204)


@dataclass
class Upload:
    index: int
    filename: str
    data: bytes
    content_type: str | None


async def read_body(request: web.Request) -> tuple[JSON, list[Upload]]:
    """JSON body, or multipart ``payload_json`` + ``files[n]``; kept on the request so
    the request log can show it."""
    payload: JSON = {}
    uploads: list[Upload] = []
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if name == "payload_json":
                payload = json.loads(await part.text())
            elif name.startswith("files[") and name.endswith("]"):
                data = bytes(await part.read(decode=False))
                uploads.append(
                    Upload(
                        index=int(name[6:-1]),
                        filename=part.filename or "file",
                        data=data,
                        content_type=part.headers.get("Content-Type"),
                    )
                )
            else:
                raise invalid_form(name, "Unknown multipart field")
    elif request.can_read_body:
        text = await request.text()
        if text:
            payload = json.loads(text)
    request[PAYLOAD_KEY] = payload
    request[UPLOADS_KEY] = [(u.filename, len(u.data)) for u in uploads]
    return payload, uploads


class Rest:
    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[web.RouteDef]:
        r = web
        return [
            r.get(API + "/users/@me", self.get_me),
            r.get(API + "/oauth2/applications/@me", self.get_application),
            r.get(API + "/applications/@me", self.get_application),
            r.get(API + "/gateway", self.get_gateway),
            r.get(API + "/gateway/bot", self.get_gateway_bot),
            r.get(API + "/applications/{app_id}/commands", self.get_commands),
            r.put(API + "/applications/{app_id}/commands", self.put_commands),
            r.get(API + "/applications/{app_id}/guilds/{guild_id}/commands", self.get_commands),
            r.put(API + "/applications/{app_id}/guilds/{guild_id}/commands", self.put_commands),
            r.post(API + "/interactions/{interaction_id}/{token}/callback", self.callback),
            r.post(API + "/webhooks/{app_id}/{token}", self.followup),
            r.get(API + "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_get),
            r.patch(API + "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_edit),
            r.delete(API + "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_delete),
            r.get(API + "/channels/{channel_id}", self.get_channel),
            r.get(API + "/channels/{channel_id}/messages", self.history),
            r.post(API + "/channels/{channel_id}/messages", self.send),
            r.get(API + "/channels/{channel_id}/messages/{message_id}", self.get_message),
            r.patch(API + "/channels/{channel_id}/messages/{message_id}", self.edit),
            r.delete(API + "/channels/{channel_id}/messages/{message_id}", self.delete),
            r.post(API + "/channels/{channel_id}/typing", self.typing),
            r.post(API + "/users/@me/channels", self.open_dm),
            r.delete(API + "/users/@me/guilds/{guild_id}", self.leave_guild),
            r.get(API + "/users/{user_id}", self.get_user),
            r.get(API + "/guilds/{guild_id}", self.get_guild),
            r.get(API + "/guilds/{guild_id}/channels", self.get_guild_channels),
            r.get(API + "/guilds/{guild_id}/roles", self.get_roles),
            r.get(API + "/guilds/{guild_id}/members/{user_id}", self.get_member),
            r.get("/attachments/{channel_id}/{attachment_id}/{filename}", self.get_file),
            r.post(API + "/attachments/refresh-urls", self.refresh_urls),
        ]

    # -- login, gateway, commands --------------------------------------------------------

    async def get_me(self, request: web.Request) -> web.Response:
        user = self.world.bot_user.payload() | {"verified": True, "mfa_enabled": False}
        return json_response(user)

    async def get_application(self, request: web.Request) -> web.Response:
        return json_response(application_payload(self.world))

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.world.ws_base + "/gateway"})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.world.ws_base + "/gateway",
                "shards": self.world.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    def _app_guild(self, request: web.Request) -> int | None:
        if int(request.match_info["app_id"]) != self.world.application_id:
            raise ApiError(50001)
        raw = request.match_info.get("guild_id")
        if raw is None:
            return None
        guild_id = int(raw)
        if guild_id not in self.world.guilds:
            raise ApiError(50001)
        return guild_id

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.world.commands(self._app_guild(request)))

    async def put_commands(self, request: web.Request) -> web.Response:
        guild_id = self._app_guild(request)
        payload, _ = await read_body(request)
        if not isinstance(payload, list):
            raise invalid_form("_", "Expected a list of commands")
        if len(payload) > 100:
            raise invalid_form("_", "Must be 100 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
        names = [(c.get("name"), c.get("type", 1)) for c in payload]
        if len(set(names)) != len(names):
            raise invalid_form(
                "_",
                "Application command names must be unique",
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
            )
        for index, cmd in enumerate(payload):
            _check_command(index, cmd)
        for kind, label in ((2, "user"), (3, "message")):  # Discord: at most 5 of each
            if sum(1 for c in payload if c.get("type", 1) == kind) > 5:
                raise invalid_form("_", f"Maximum number of {label} commands reached (5)", "MAX")
        return json_response(self.world.sync_commands(guild_id, payload))

    # -- files ---------------------------------------------------------------------------

    def _files(self, payload: JSON, uploads: list[Upload]) -> list[Attachment]:
        """Uploads as attachments, named by the payload's ``attachments`` entries."""
        described = {}
        for entry in payload.get("attachments") or []:
            try:
                described[int(entry.get("id"))] = entry
            except (TypeError, ValueError):
                continue
        files = []
        for upload in uploads:
            entry = described.get(upload.index, {})
            files.append(
                Attachment(
                    id=self.world.ids.next(),
                    filename=entry.get("filename") or upload.filename,
                    data=upload.data,
                    url="",
                    content_type=upload.content_type,
                    description=entry.get("description"),
                )
            )
        return files

    async def get_file(self, request: web.Request) -> web.StreamResponse:
        att = self.world.files_by_id.get(int(request.match_info["attachment_id"]))
        if att is None:
            return web.Response(status=404, text="no such file")
        if not self.world.cdn.serves(request.path, request.query):  # expired, unsigned, forged
            return web.Response(status=404, text=GONE_TEXT)
        kind = att.content_type or "application/octet-stream"
        wanted = request.headers.get("Range")
        att.fetches.append(wanted)
        found = re.fullmatch(r"bytes=(\d+)-(\d*)", (wanted or "").strip())
        if found is None:  # no Range (or one this CDN does not serve): the whole file
            return web.Response(body=att.data, content_type=kind)
        total, first = len(att.data), int(found[1])
        last = min(int(found[2]) if found[2] else total - 1, total - 1)
        if first >= total:  # as Discord's CDN: 416 for a range past the end
            return web.Response(status=416, headers={"Content-Range": f"bytes */{total}"})
        span = {"Content-Range": f"bytes {first}-{last}/{total}"}
        return web.Response(
            status=206, body=att.data[first : last + 1], content_type=kind, headers=span
        )

    async def refresh_urls(self, request: web.Request) -> web.Response:
        """Newly signed links for files that still exist; any other link comes back as
        it was sent (a deleted message's, a made-up one)."""
        payload, _ = await read_body(request)
        urls = payload.get("attachment_urls") if isinstance(payload, dict) else None
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise invalid_form("attachment_urls", "This field is required")
        if not 1 <= len(urls) <= REFRESH_MAX:
            raise invalid_form(
                "attachment_urls",
                f"Must be between 1 and {REFRESH_MAX} in length.",
                "BASE_TYPE_BAD_LENGTH",
            )
        answer = []
        for url in urls:
            att = self._live_file(url)
            if att is not None:
                att.url = self.world.cdn.sign(att.url)
            answer.append({"original": url, "refreshed": att.url if att is not None else url})
        return json_response({"refreshed_urls": answer})

    def _live_file(self, url: str) -> Attachment | None:
        """The file ``url`` names (path only: the signature may be stale), unless it or
        its message is gone."""
        found = re.fullmatch(r"/attachments/(\d+)/(\d+)/([^/]+)", urlsplit(url).path)
        if found is None or not url.startswith(self.world.http_base + "/"):
            return None
        att = self.world.files_by_id.get(int(found[2]))
        if att is None or att.filename != unquote(found[3]):
            return None
        for msg in self.world.messages_by_id.values():
            if att in msg.files:
                return None if msg.deleted else att
        return att  # a command option's upload: in no message

    # -- interactions ----------------------------------------------------------------------

    def _interaction_meta(self, ix: InjectedInteraction, **extra: Any) -> JSON:
        meta: JSON = {
            "id": str(ix.id),
            "type": ix.type,
            "user": ix.member.user.payload(),
            "authorizing_integration_owners": {"0": str(ix.guild.id)},
        }
        if ix.type == APPLICATION_COMMAND:
            meta["name"] = ix.payload["data"]["name"]
        if ix.message is not None:
            meta["interacted_message_id"] = str(ix.message.id)
        return meta | extra

    def _interaction_message(
        self,
        ix: InjectedInteraction,
        kind: str,
        payload: JSON,
        files: list[Attachment],
        flags: int,
        **meta: Any,
    ) -> Message:
        if ix.channel.deleted:
            raise ApiError(10003)
        return self.world.new_message(
            ix.channel,
            author=self.world.bot_user,
            kind=kind,
            payload=payload,
            files=files,
            flags=flags,
            type=20 if ix.type == APPLICATION_COMMAND else 0,
            webhook_id=self.world.application_id,
            interaction_id=ix.id,
            interaction_meta=self._interaction_meta(ix, **meta),
        )

    async def callback(self, request: web.Request) -> web.Response:
        arrived = time.time()  # Discord's clock for the 3 s starts when the answer arrives
        world = self.world
        payload, uploads = await read_body(request)
        ix = world.interactions.get(int(request.match_info["interaction_id"]))
        try:
            if ix is None or ix.token != request.match_info["token"]:
                raise ApiError(10062)
            return self._answer(ix, payload, uploads, arrived)
        except ApiError as exc:
            if ix is not None:
                ix.rejections.append(("callback", exc.code))
                world.notify()
            raise

    def _answer(
        self, ix: InjectedInteraction, payload: JSON, uploads: list[Upload], arrived: float
    ) -> web.Response:
        world = self.world
        age = world.clock.now() - ix.created
        if ix.expired or (world.callback_window is not None and age > world.callback_window):
            raise ApiError(10062)
        if ix.callback is not None:
            raise ApiError(40060)
        kind = payload.get("type")
        data: JSON = payload.get("data") or {}
        files = self._files(data, uploads)
        original: Message | None = None
        on_message = ix.message is not None
        if kind == 4:
            if ix.type == AUTOCOMPLETE:
                raise invalid_form("type", "Autocomplete must answer with type 8")
            check_message(data, n_files=len(files), creating=True)
            self._check_size(ix, files)
            flags = int(data.get("flags") or 0) & KEPT_FLAGS
            original = self._interaction_message(ix, "response", data, files, flags)
        elif kind == 5:
            if ix.type == AUTOCOMPLETE:
                raise invalid_form("type", "Autocomplete cannot be deferred")
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            original = self._interaction_message(ix, "response", {}, [], flags)
        elif kind in (6, 7):
            if ix.type not in (MESSAGE_COMPONENT, MODAL_SUBMIT) or not on_message:
                raise invalid_form("type", "Only a component's message can be updated")
            assert ix.message is not None
            if kind == 7:
                check_message(data, n_files=len(files), creating=False)
                self._check_size(ix, files)
                world.apply_edit(ix.message, data, files)
            original = ix.message
        elif kind == 8:
            if ix.type != AUTOCOMPLETE:
                raise invalid_form("type", "Only autocomplete can answer with choices")
            if len(data.get("choices") or []) > 25:
                raise invalid_form(
                    "data.choices", "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH"
                )
        elif kind == 9:
            if ix.type in (AUTOCOMPLETE, MODAL_SUBMIT):
                raise invalid_form("type", "Cannot open a modal here")
            check_modal(data)
        else:
            raise invalid_form("type", f"Unsupported interaction callback type {kind!r}")
        ix.callback = Callback(type=kind, data=data or None, files=files, at=arrived)
        ix.original = original
        world.notify()
        body: JSON = {
            "interaction": {
                "id": str(ix.id),
                "type": ix.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(original is not None and original.ephemeral),
            },
            "resource": {"type": kind},
        }
        if original is not None:
            body["interaction"]["response_message_id"] = str(original.id)
            if kind in (4, 5, 7):
                body["resource"]["message"] = original.payload(world.application_id)
        return json_response(body)

    def _check_size(self, ix: InjectedInteraction, files: list[Attachment]) -> None:
        limit = int(ix.payload["attachment_size_limit"])
        if any(f.size > limit for f in files):
            raise ApiError(40005)

    def _webhook_interaction(self, request: web.Request) -> InjectedInteraction:
        world = self.world
        ix = world.interactions_by_token.get(request.match_info["token"])
        if ix is None or int(request.match_info["app_id"]) != world.application_id:
            raise ApiError(10015)
        try:
            if ix.expired:
                raise ApiError(world.expired_token_error)
            if ix.callback is None:
                raise ApiError(10015)
        except ApiError as exc:
            ix.rejections.append((f"{request.method} webhook", exc.code))
            world.notify()
            raise
        return ix

    def _webhook_message(self, ix: InjectedInteraction, raw_id: str) -> Message:
        if raw_id == "@original":
            msg = ix.original
        else:
            wanted = int(raw_id)
            msg = next((m for m in ix.messages if m.id == wanted), None)
        if msg is None or msg.deleted:
            ix.rejections.append(("webhook message", 10008))
            raise ApiError(10008)
        return msg

    async def followup(self, request: web.Request) -> web.Response:
        world = self.world
        payload, uploads = await read_body(request)
        ix = self._webhook_interaction(request)
        files = self._files(payload, uploads)
        try:
            check_message(payload, n_files=len(files), creating=True)
            self._check_size(ix, files)
        except ApiError as exc:
            ix.rejections.append(("followup", exc.code))
            raise
        original = ix.original
        if (
            ix.callback is not None
            and ix.callback.type == 5
            and original is not None
            and original.loading
            and not original.deleted
        ):
            # Discord: the first followup after a deferral fills the "thinking" message,
            # keeping the deferral's ephemerality.
            fill = {k: v for k, v in payload.items() if k != "flags"}
            world.apply_edit(original, fill, files)
            msg = original
        else:
            flags = int(payload.get("flags") or 0) & KEPT_FLAGS
            msg = self._interaction_message(
                ix,
                "followup",
                payload,
                files,
                flags,
                original_response_message_id=str(original.id) if original else None,
            )
        ix.followups.append(msg)
        world.notify()
        if request.query.get("wait", "0").lower() in ("1", "true"):
            return json_response(msg.payload(world.application_id))
        return no_content()

    async def webhook_get(self, request: web.Request) -> web.Response:
        ix = self._webhook_interaction(request)
        msg = self._webhook_message(ix, request.match_info["message_id"])
        return json_response(msg.payload(self.world.application_id))

    async def webhook_edit(self, request: web.Request) -> web.Response:
        payload, uploads = await read_body(request)
        ix = self._webhook_interaction(request)
        msg = self._webhook_message(ix, request.match_info["message_id"])
        files = self._files(payload, uploads)
        try:
            check_message(payload, n_files=len(files), creating=False)
            self._check_size(ix, files)
        except ApiError as exc:
            ix.rejections.append(("webhook edit", exc.code))
            raise
        self.world.apply_edit(msg, payload, files)
        return json_response(msg.payload(self.world.application_id))

    async def webhook_delete(self, request: web.Request) -> web.Response:
        ix = self._webhook_interaction(request)
        msg = self._webhook_message(ix, request.match_info["message_id"])
        self.world.delete_message(msg)
        return no_content()

    # -- channels ----------------------------------------------------------------------------

    def _channel(self, request: web.Request) -> Channel:
        return self.world.require_channel(int(request.match_info["channel_id"]))

    def _channel_message(self, channel: Channel, request: web.Request) -> Message:
        msg = self.world.messages_by_id.get(int(request.match_info["message_id"]))
        if msg is None or msg.channel_id != channel.id or msg.deleted or msg.ephemeral:
            raise ApiError(10008)
        return msg

    def _channel_payload(self, channel: Channel) -> JSON:
        return channel.payload(bot_id=self.world.bot_user.id)

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel_payload(self._channel(request)))

    async def send(self, request: web.Request) -> web.Response:
        world = self.world
        payload, uploads = await read_body(request)
        channel = self._channel(request)
        if channel.type == DM:
            assert channel.recipient is not None
            if channel.recipient.dms_closed:
                raise ApiError(50007)
        allowed = world.bot_permissions(channel)
        needed = perms.SEND_MESSAGES_IN_THREADS if channel.is_thread else perms.SEND_MESSAGES
        if not allowed & needed:
            raise ApiError(50013)
        if uploads and not allowed & perms.ATTACH_FILES:
            raise ApiError(50013)
        files = self._files(payload, uploads)
        check_message(payload, n_files=len(files), creating=True)
        world.check_upload(channel, files)
        earlier = world.check_nonce(channel, payload)
        if earlier is not None:
            return json_response(earlier.payload(world.application_id))
        flags = int(payload.get("flags") or 0) & (SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS)
        msg = world.new_message(
            channel,
            author=world.bot_user,
            kind="channel",
            payload=payload,
            files=files,
            flags=flags,
        )
        world.remember_nonce(msg)
        if channel.archived:
            world.set_archived(channel, False)  # as on Discord: a post reopens the thread
        return json_response(msg.payload(world.application_id))

    async def get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(channel, request)
        return json_response(msg.payload(self.world.application_id))

    async def edit(self, request: web.Request) -> web.Response:
        world = self.world
        payload, uploads = await read_body(request)
        channel = self._channel(request)
        msg = self._channel_message(channel, request)
        if msg.author is not world.bot_user:
            raise ApiError(50005)
        if uploads and not world.bot_permissions(channel) & perms.ATTACH_FILES:
            raise ApiError(50013)
        files = self._files(payload, uploads)
        check_message(payload, n_files=len(files), creating=False)
        world.check_upload(channel, files)
        world.apply_edit(msg, payload, files)
        return json_response(msg.payload(world.application_id))

    async def delete(self, request: web.Request) -> web.Response:
        world = self.world
        channel = self._channel(request)
        msg = self._channel_message(channel, request)
        if msg.author is not world.bot_user and not (
            world.bot_permissions(channel) & perms.MANAGE_MESSAGES
        ):
            raise ApiError(50013)
        world.delete_message(msg)
        return no_content()

    async def history(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if not self.world.bot_permissions(channel) & perms.READ_MESSAGE_HISTORY:
            return json_response([])
        limit = max(1, min(100, int(request.query.get("limit", "50"))))
        found = self.world.messages(channel, include_ephemeral=False)
        if "before" in request.query:
            before = int(request.query["before"])
            found = [m for m in found if m.id < before][-limit:]
        elif "after" in request.query:
            after = int(request.query["after"])
            found = [m for m in found if m.id > after][:limit]
        elif "around" in request.query:
            around = int(request.query["around"])
            older = [m for m in found if m.id <= around][-(limit // 2 + 1) :]
            newer = [m for m in found if m.id > around][: limit - len(older)]
            found = older + newer
        else:
            found = found[-limit:]
        app = self.world.application_id
        return json_response([m.payload(app) for m in reversed(found)])

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return no_content()

    async def open_dm(self, request: web.Request) -> web.Response:
        payload, _ = await read_body(request)
        user = self.world.users.get(int(payload.get("recipient_id", 0)))
        if user is None:
            raise ApiError(10013)
        return json_response(self.world.open_dm(user).payload())

    # -- users and guilds ---------------------------------------------------------------

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.world.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise ApiError(10013)
        return json_response(user.payload())

    def _guild(self, request: web.Request) -> Any:
        guild = self.world.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise ApiError(10004)
        return guild

    async def leave_guild(self, request: web.Request) -> web.Response:
        """The bot leaves a guild: it is gone from the world and GUILD_DELETE follows."""
        guild = self._guild(request)
        self.world.remove_guild(guild)
        return no_content()

    async def get_guild(self, request: web.Request) -> web.Response:
        data = guild_create_payload(self.world, self._guild(request))
        for key in ("members", "channels", "threads", "presences", "voice_states"):
            data.pop(key, None)
        return json_response(data)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        return json_response(
            [
                self._channel_payload(c)
                for c in guild.channels.values()
                if not c.deleted and not c.is_thread
            ]
        )

    async def get_roles(self, request: web.Request) -> web.Response:
        return json_response([r.payload() for r in self._guild(request).roles.values()])

    async def get_member(self, request: web.Request) -> web.Response:
        member = self._guild(request).members.get(int(request.match_info["user_id"]))
        if member is None:
            raise ApiError(10007)
        return json_response(member.payload())


def _check_command(index: int, cmd: JSON) -> None:
    """The checks Discord makes on a command that a bot most plausibly trips."""
    name = cmd.get("name") or ""
    where = f"{index}"
    if cmd.get("type", 1) in (2, 3):  # user and message commands: any case, spaces
        if not (1 <= len(name) <= 32) or name != name.strip():
            raise invalid_form(
                f"{where}.name",
                f"Invalid command name {name!r}",
                "APPLICATION_COMMAND_INVALID_NAME",
            )
        if cmd.get("description") or cmd.get("options"):
            raise invalid_form(
                f"{where}.description",
                "Context menu commands cannot have description or options",
                "APPLICATION_COMMAND_CONTEXT_MENU_CANNOT_HAVE_DESCRIPTION_OR_OPTIONS",
            )
    if cmd.get("type", 1) == 1:
        if not (1 <= len(name) <= 32) or name != name.lower():
            raise invalid_form(
                f"{where}.name",
                f"Invalid command name {name!r}",
                "APPLICATION_COMMAND_INVALID_NAME",
            )
        if not (1 <= len(cmd.get("description") or "") <= 100):
            raise invalid_form(
                f"{where}.description",
                "Must be between 1 and 100 in length.",
                "BASE_TYPE_BAD_LENGTH",
            )
    _check_options(where, cmd.get("options") or [])


def _check_options(where: str, options: list[JSON]) -> None:
    if len(options) > 25:
        raise invalid_form(
            f"{where}.options", "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH"
        )
    seen_optional = False
    for n, option in enumerate(options):
        here = f"{where}.options.{n}"
        if len(option.get("choices") or []) > 25:
            raise invalid_form(
                f"{here}.choices", "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH"
            )
        if option.get("required") and seen_optional:
            raise invalid_form(
                here,
                "Required options must be placed before non-required options",
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
            )
        if not option.get("required") and option.get("type") not in (1, 2):
            seen_optional = True
        if option.get("type") in (1, 2):
            _check_options(here, option.get("options") or [])
