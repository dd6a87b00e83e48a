"""The aiohttp server: REST under ``/api/v10``, the gateway on ``/gateway`` and
``/resume``, member and bot files under ``/attachments``.

One middleware counts requests in flight (for ``settle``), plays scripted faults,
applies rate limits (when on), logs every request, and turns whatever goes wrong inside
into a JSON 4xx: discord.py retries a 5xx for about 25 s, so the server never answers one
unless a test asked.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.discord_world.errors import ApiError
from tests.discord_world.faults import Fault
from tests.discord_world.models import RequestRecord
from tests.discord_world.ratelimits import Verdict
from tests.discord_world.rest import API, PAYLOAD_KEY, UPLOADS_KEY, Rest, json_response

if TYPE_CHECKING:
    from tests.discord_world.world import World

log = logging.getLogger(__name__)

GATEWAY_PATHS = ("/gateway", "/resume")
# Routes that carry the interaction token instead of the bot's Authorization.
TOKEN_ROUTES = ("/interactions/", "/webhooks/")
MAX_BODY = 512 * 1024 * 1024
VERDICT_KEY = web.RequestKey("rate_limit_verdict", Verdict)


class DiscordServer:
    def __init__(self, world: World) -> None:
        self.world = world
        self._runner: web.AppRunner | None = None
        self.port = 0

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=MAX_BODY)
        app.router.add_routes(Rest(self.world).routes())
        for path in GATEWAY_PATHS:
            app.router.add_get(path, self.world.gateway.handle)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.world.http_base = f"http://127.0.0.1:{self.port}"
        self.world.ws_base = f"ws://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        await self.world.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        world = self.world
        if request.path in GATEWAY_PATHS:
            fault = world.faults.take(request.method, request.path, gateway=True)
            if fault is not None and fault.drop:
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=499, text="dropped")
            return await handler(request)
        world.in_flight += 1
        world.notify()
        api_path = request.path[len(API) :] if request.path.startswith(API) else request.path
        fault = (
            world.faults.take(request.method, api_path) if request.path.startswith(API) else None
        )
        try:
            response = await self._answer(request, handler, api_path, fault)
        finally:
            world.in_flight -= 1
            world.notify()
        return response

    async def _answer(
        self, request: web.Request, handler: Handler, api_path: str, fault: Fault | None
    ) -> web.StreamResponse:
        world = self.world
        route = _route_of(request)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        response: web.StreamResponse
        code: int | None = None
        if fault is not None and fault.drop:
            assert request.transport is not None
            request.transport.close()  # the client sees the server disconnect
            response, code = web.Response(status=499, text="dropped"), None
        elif fault is not None and not fault.commit:
            await request.read()
            response, code = self._fault_response(fault), fault.code
        elif (limited := self._rate_limit(request, route)) is not None:
            await request.read()
            response, code = limited, 0
        else:
            try:
                self._check_auth(request, api_path)
                response = await handler(request)
            except ApiError as exc:
                response, code = json_response(exc.body(), exc.status), exc.code
            except web.HTTPException as exc:
                if exc.status in (404, 405):
                    world.unhandled.append(f"{request.method} {request.path}")
                    log.warning("no route for %s %s", request.method, request.path)
                body = {"message": f"{exc.status}: {exc.reason}", "code": 0}
                response, code = json_response(body, exc.status), 0
            except Exception as exc:
                log.exception("test server bug on %s %s", request.method, request.path)
                world.server_errors.append(f"{request.method} {request.path}: {exc!r}")
                body = {"message": f"test server error: {exc!r}", "code": 0}
                response, code = json_response(body, 400), 0
            if fault is not None:
                response, code = self._fault_response(fault), fault.code
            elif (verdict := request.get(VERDICT_KEY)) is not None:
                response.headers.update(verdict.headers)
        world.requests.append(
            RequestRecord(
                method=request.method,
                path=api_path,
                route=route,
                status=response.status,
                code=code,
                json=_logged_payload(request),
                fault=fault is not None,
            )
        )
        return response

    def _rate_limit(self, request: web.Request, route: str) -> web.Response | None:
        """The 429 for a request over a rate limit; else its headers are kept for the answer."""
        if not request.path.startswith(API):
            return None
        verdict = self.world.rate_limits.take(request.method, route, request.match_info)
        if verdict is None:
            return None
        if verdict.refused is not None:
            return json_response(verdict.refused, 429, verdict.headers)
        request[VERDICT_KEY] = verdict
        return None

    def _check_auth(self, request: web.Request, api_path: str) -> None:
        if not request.path.startswith(API) or api_path.startswith(TOKEN_ROUTES):
            return
        if request.headers.get("Authorization") != f"Bot {self.world.token}":
            raise ApiError(0, status=401, message="401: Unauthorized")

    @staticmethod
    def _fault_response(fault: Fault) -> web.Response:
        return json_response(fault.body(), fault.status, fault.headers())


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else request.path
    return canonical[len(API) :] if canonical.startswith(API) else canonical


def _logged_payload(request: web.Request) -> object:
    payload = request.get(PAYLOAD_KEY)
    uploads = request.get(UPLOADS_KEY)
    if uploads:
        return {"payload_json": payload, "files": uploads}
    return payload
