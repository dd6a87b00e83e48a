"""The websocket gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME
with replay of what was missed, shards, and the server's levers (RECONNECT, drop,
invalidate).

Frames are text JSON (discord.py only decompresses binary frames) and go out through
one queue per connection, so dispatching is synchronous for callers and ordered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tests.discord_world.payloads import guild_create_payload, ready_payload
from tests.discord_world.shards import Shard, owns, valid_shard

if TYPE_CHECKING:
    from tests.discord_world.world import World

log = logging.getLogger(__name__)

JSON = dict[str, Any]

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = (
    0,
    1,
    2,
    6,
    7,
    9,
    10,
    11,
)
# A client closing with these ends its session for good, as on Discord.
SESSION_ENDING_CLOSE_CODES = (1000, 1001)
INVALID_SHARD = 4010


@dataclass
class Connection:
    ws: web.WebSocketResponse
    path: str
    queue: asyncio.Queue[JSON | None] = field(default_factory=asyncio.Queue)
    session: Session | None = None

    def send(self, frame: JSON) -> None:
        self.queue.put_nowait(frame)


@dataclass
class Session:
    id: str
    seq: int = 0
    frames: list[JSON] = field(default_factory=list)
    """Every dispatch with its sequence number, replayed after a RESUME."""
    connection: Connection | None = None
    ended: bool = False
    resumes: int = 0
    shard: Shard | None = None
    """``(shard_id, shard_count)`` from IDENTIFY; None for an unsharded session."""

    @property
    def live(self) -> bool:
        return self.connection is not None and not self.ended

    def owns(self, guild_id: int | None) -> bool:
        """Whether this session gets the guild's events (``None``: a DM, shard 0)."""
        return owns(self.shard, guild_id)


class Gateway:
    def __init__(self, world: World) -> None:
        self.world = world
        self.heartbeat_interval_ms = 41_250
        self.sessions: dict[str, Session] = {}
        self.current: Session | None = None
        """The session that identified or resumed last (the levers' default target)."""
        self.connections: list[Connection] = []
        self.log: list[str] = []
        """``identify``, ``resume``, ``resume-failed``, ``reconnect``, ``drop``, … in order."""
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what tests look at -------------------------------------------------------

    @property
    def identifies(self) -> int:
        return self.log.count("identify")

    @property
    def resumes(self) -> int:
        return self.log.count("resume")

    @property
    def connected(self) -> bool:
        """A bot is connected with a session (identified or resumed)."""
        return any(s.live for s in self.sessions.values())

    @property
    def has_session(self) -> bool:
        """A bot holds a session, possibly between connections: events sent now reach
        it (after its RESUME)."""
        return bool(self.open_sessions())

    def open_sessions(
        self, guild_id: int | None = None, *, any_guild: bool = True
    ) -> list[Session]:
        """Sessions not ended (connected or awaiting a RESUME), oldest first; with
        ``any_guild=False`` only those that get ``guild_id``'s events."""
        return [
            s for s in self.sessions.values() if not s.ended and (any_guild or s.owns(guild_id))
        ]

    def live_shards(self) -> list[Shard | None]:
        """The shard of each connected session (None for unsharded), oldest first."""
        return [s.shard for s in self.sessions.values() if s.live]

    def idle(self) -> bool:
        """No frame waiting to be written."""
        return all(c.queue.empty() for c in self.connections)

    # -- levers -----------------------------------------------------------------------

    def dispatch(self, event: str, data: JSON, *, guild_id: int | None) -> list[Session]:
        """Send an event of ``guild_id`` (None: a DM) to every session of its shard; kept
        for replay by one between connections. Returns the sessions it went to."""
        targets = self.open_sessions(guild_id, any_guild=False)
        if not targets:
            log.debug("no session for guild %s; dropping %s", guild_id, event)
        for session in targets:
            self._send(session, event, data)
        return targets

    def _send(self, session: Session, event: str, data: JSON) -> None:
        session.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.frames.append(frame)
        if session.connection is not None:
            session.connection.send(frame)

    def request_reconnect(self, *, shard: int | None = None) -> None:
        """Op 7: the bot closes and RESUMEs on ``resume_gateway_url``. Levers act on the
        last session to connect, or on the latest one of shard ``shard``."""
        self._require_connection(shard).send({"op": RECONNECT, "d": None, "s": None, "t": None})
        self.log.append("reconnect")

    async def drop(self, code: int = 4000, *, shard: int | None = None) -> None:
        """Close the socket from the server side (a network blip); the bot resumes."""
        conn = self._require_connection(shard)
        self.log.append("drop")
        if conn.session is not None:
            conn.session.connection = None  # from now on, events wait for the RESUME
        conn.queue.put_nowait(None)
        await conn.ws.close(code=code, message=b"dropped by test")

    def invalidate(self, *, shard: int | None = None) -> None:
        """Op 9 (not resumable): the bot must IDENTIFY again."""
        conn = self._require_connection(shard)
        if conn.session is not None:
            conn.session.ended = True
        conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
        self.log.append("invalidate")

    def _require_connection(self, shard: int | None = None) -> Connection:
        session = self.current
        if shard is not None:
            of_shard = [
                s for s in self.sessions.values() if s.live and s.shard and s.shard[0] == shard
            ]
            session = of_shard[-1] if of_shard else None
        if session is None or session.connection is None:
            where = "" if shard is None else f" on shard {shard}"
            raise RuntimeError(f"no bot is connected to the gateway{where}")
        return session.connection

    async def close_all(self) -> None:
        for conn in list(self.connections):
            conn.queue.put_nowait(None)
            await conn.ws.close(code=1001, message=b"server shutting down")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the socket -------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws=ws, path=request.path)
        self.connections.append(conn)
        writer = asyncio.create_task(self._write(conn))
        self._tasks.add(writer)
        writer.add_done_callback(self._tasks.discard)
        conn.send(
            {
                "op": HELLO,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                "s": None,
                "t": None,
            }
        )
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.ERROR:
                    break
        except Exception:
            log.exception("gateway handler failed")
            self.world.server_errors.append("gateway handler failed (see log)")
        finally:
            conn.queue.put_nowait(None)
            self.connections.remove(conn)
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                if ws.close_code in SESSION_ENDING_CLOSE_CODES:
                    session.ended = True
            self.world.notify()
        return ws

    async def _write(self, conn: Connection) -> None:
        while True:
            frame = await conn.queue.get()
            if frame is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(json.dumps(frame))
            except (ConnectionError, RuntimeError):
                return
            finally:
                self.world.notify()

    async def _on_frame(self, conn: Connection, frame: JSON) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == HEARTBEAT:
            conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == IDENTIFY:
            await self._identify(conn, data or {})
        elif op == RESUME:
            await self._resume(conn, data or {})
        else:
            log.debug("ignoring gateway op %s", op)

    async def _identify(self, conn: Connection, data: JSON) -> None:
        if data.get("token") != self.world.token:
            self.log.append("identify-rejected")
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard: Shard | None = None
        if data.get("shard") is not None:
            shard = valid_shard(data["shard"])
            if shard is None:
                self.log.append("identify-invalid-shard")
                await conn.ws.close(code=INVALID_SHARD, message=b"Invalid shard.")
                return
        self.log.append("identify")
        session = Session(id=secrets.token_hex(16), shard=shard)
        if shard is None:
            # An unsharded IDENTIFY replaces the earlier unsharded session; sharded ones
            # coexist, even two on one shard (Discord sends both its events).
            for old in self.sessions.values():
                if old.shard is None:
                    old.ended = True
        self.sessions[session.id] = session
        self.current = session
        conn.session = session
        session.connection = conn
        guilds = [g for g in self.world.guilds.values() if session.owns(g.id)]
        ready = ready_payload(self.world, session.id, self.resume_url(), guilds)
        if shard is not None:
            ready["shard"] = list(shard)
        self._send(session, "READY", ready)
        for guild in guilds:
            self._send(session, "GUILD_CREATE", guild_create_payload(self.world, guild))
        self.world.notify()

    async def _resume(self, conn: Connection, data: JSON) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or session.ended or data.get("token") != self.world.token:
            self.log.append("resume-failed")
            conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        self.log.append("resume")
        session.resumes += 1
        seq = data.get("seq") or 0
        conn.session = session
        session.connection = conn
        for frame in session.frames:
            if frame["s"] > seq:
                conn.send(frame)
        self.current = session
        self._send(session, "RESUMED", {})
        self.world.notify()

    def resume_url(self) -> str:
        return f"{self.world.ws_base}/resume"
