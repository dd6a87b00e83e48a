"""HTTP routes: the three Max API endpoints, result files and ``/_sim`` controls.

Middlewares, outermost first: request log → faults → bearer auth. Faults come
before auth because a failing gateway answers before the service checks anything.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import ApiError, bad_request
from .faults import ENDPOINTS
from .media_rules import breaks_media_rules
from .records import RequestRecord
from .tasks import TaskStateError, cancel_refusal, new_task
from .validation import validate_submit

if TYPE_CHECKING:
    from .server import Simulator

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FILE_NAME = re.compile(r"^(\d+)\.(png|mp4)$")
_RECORD = web.RequestKey("sim_record", RequestRecord)
_LOG_BODY_LIMIT = 64 * 1024


def create_app(sim: Simulator) -> web.Application:
    """The aiohttp application serving one :class:`Simulator`."""
    routes = _Routes(sim)
    app = web.Application(middlewares=[routes.log_mw, routes.fault_mw, routes.auth_mw])
    app.router.add_post("/api/v1/task/submit", routes.submit, name="submit")
    app.router.add_get("/api/v1/task/{task_id}", routes.query, name="query")
    app.router.add_post("/api/v1/task/{task_id}/cancel", routes.cancel, name="cancel")
    app.router.add_route("*", "/api/{tail:.*}", routes.no_such_endpoint)
    app.router.add_get("/files/{task_id}/{name}", routes.file, name="files")
    app.router.add_post("/_sim/tasks/{task_id}/finish", routes.finish)
    app.router.add_get("/_sim/tasks", routes.list_tasks)
    app.router.add_get("/_sim/faults", routes.get_faults)
    app.router.add_post("/_sim/faults", routes.set_faults)
    app.router.add_post("/_sim/clock/advance", routes.advance_clock)
    app.router.add_get("/_sim/requests", routes.list_requests)
    return app


def _endpoint(request: web.Request) -> str:
    name = request.match_info.route.name
    if name in ENDPOINTS:
        return name
    return "control" if request.path.startswith("/_sim/") else "other"


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw[:_LOG_BODY_LIMIT].decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class _Routes:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    # -- envelopes --------------------------------------------------------------------------
    def ok(self, data: Any = None, *, with_data: bool = True) -> web.Response:
        body: dict[str, Any] = {"code": 0, "msg": "ok"}
        if with_data:
            body["data"] = data
        return web.json_response(body)

    def error(self, exc: ApiError) -> web.Response:
        status = exc.code if self.sim.config.error_style == "http" else 200
        return web.json_response(exc.envelope(), status=status)

    async def json_body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request("request body is not valid JSON") from None

    # -- middlewares -----------------------------------------------------------------------
    @web.middleware
    async def log_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        record = RequestRecord(
            at=self.sim.clock.now(),
            method=request.method,
            path=request.path,
            query=request.query_string,
            body=_parse_body(raw),
            endpoint=_endpoint(request),
            task_id=request.match_info.get("task_id"),
        )
        request[_RECORD] = record
        self.sim.requests.append(record)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            record.status = exc.status
            raise
        except Exception:
            record.status = 500
            log.exception("simulator handler failed: %s %s", request.method, request.path)
            raise
        record.status = response.status
        if isinstance(response, web.Response) and response.content_type == "application/json":
            parsed = _parse_body(response.body if isinstance(response.body, bytes) else b"")
            if isinstance(parsed, dict) and isinstance(parsed.get("code"), int):
                record.code = parsed["code"]
        log.debug("%s %s -> %s", request.method, request.path, response.status)
        return response

    @web.middleware
    async def fault_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self.sim.faults.take(_endpoint(request))
        if fault is None:
            return await handler(request)
        request[_RECORD].fault = fault.kind
        log.info("simulated fault %s on %s %s", fault.kind, request.method, request.path)
        if fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
            return await handler(request)
        if fault.kind == "rate_limit":
            return web.json_response(
                {"code": 429, "msg": "too many requests (simulated)"},
                status=429,
                headers={"Retry-After": str(math.ceil(fault.retry_after))},
            )
        if fault.kind == "busy":  # nothing was done: the request may be sent again
            wait = (
                {} if fault.retry_after < 0 else {"Retry-After": str(math.ceil(fault.retry_after))}
            )
            return web.json_response(
                {"code": 503, "msg": "service busy (simulated)"}, status=503, headers=wait
            )
        if fault.kind == "malformed":
            response = await handler(request)
            body = response.body if isinstance(response, web.Response) else b""
            cut = body[: len(body) // 2] if isinstance(body, bytes) and body else b'{"code":0,'
            return web.Response(status=200, body=cut, content_type="application/json")
        if fault.processed:
            await handler(request)
        if fault.body is not None:
            kind = "application/json" if fault.body.lstrip().startswith("{") else "text/html"
            return web.Response(status=fault.status, text=fault.body, content_type=kind)
        return web.json_response(
            {"code": fault.status, "msg": "internal error (simulated)"}, status=fault.status
        )

    @web.middleware
    async def auth_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(("/api/", "/_sim/")):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            expected = self.sim.config.api_key.encode()
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), expected
            ):
                return self.error(ApiError(401, "unauthorized"))
            request[_RECORD].authorized = True
        try:
            return await handler(request)
        except ApiError as exc:
            return self.error(exc)

    # -- Max API ---------------------------------------------------------------------------
    async def submit(self, request: web.Request) -> web.Response:
        body = await self.json_body(request)
        sub = validate_submit(body, self.sim.models, self.sim.config)
        if await breaks_media_rules(sub.entry, sub.input):  # found once Max API fetches them
            sub.directives.end_status = "FAILURE"
            sub.directives.failure_reason = "INVALID_PARAMETERS"
        task = new_task(sub, self.sim.clock.now(), self.sim.config)
        self.sim.tasks[task.task_id] = task
        request[_RECORD].task_id = task.task_id
        log.info("task %s submitted (%s)", task.task_id, task.model)
        self.sim.task_changed(task)
        return self.ok({"taskId": task.task_id})

    async def query(self, request: web.Request) -> web.Response:
        task = self.sim.task_or_404(request.match_info["task_id"])
        return self.ok(self.sim.task_data(task))

    async def cancel(self, request: web.Request) -> web.Response:
        task = self.sim.task_or_404(request.match_info["task_id"])
        now = self.sim.clock.now()
        refusal = cancel_refusal(task, now, self.sim.config.cancel_rule)
        if refusal:
            raise bad_request(refusal)
        task.end("CANCELLED", None, now)
        log.info("task %s cancelled", task.task_id)
        self.sim.task_changed(task)
        return self.ok(with_data=False)

    async def no_such_endpoint(self, request: web.Request) -> web.Response:
        raise ApiError(404, f"no such endpoint: {request.method} {request.path}")

    # -- result files ----------------------------------------------------------------------
    async def file(self, request: web.Request) -> web.Response:
        task = self.sim.tasks.get(request.match_info["task_id"])
        match = _FILE_NAME.match(request.match_info["name"])
        now = self.sim.clock.now()
        if task is None or match is None or task.state(now).status != "SUCCESS":
            return web.Response(status=404, text="no such file\n")
        index, ext = int(match.group(1)), match.group(2)
        if index >= task.result_count or ext != ("mp4" if task.media == "video" else "png"):
            return web.Response(status=404, text="no such file\n")
        expires = self.sim.link_expiry(task)
        if expires is not None and now >= expires:
            return web.Response(
                status=403,
                text=f"link expired: result links are valid until {expires.isoformat()}\n",
            )
        data = await self.sim.result_file(task, index)
        kind = "video/mp4" if ext == "mp4" else "image/png"
        return web.Response(body=data, content_type=kind)

    # -- controls --------------------------------------------------------------------------
    async def finish(self, request: web.Request) -> web.Response:
        body = await self.json_body(request) or {}
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        try:
            task = self.sim.finish(
                request.match_info["task_id"],
                status=str(body.get("status", "SUCCESS")),
                failure_reason=body.get("failure_reason"),
            )
        except KeyError:
            raise ApiError(404, "task not found") from None
        except TaskStateError as exc:
            raise bad_request(str(exc)) from None
        return self.ok(self.sim.task_data(task))

    async def list_tasks(self, request: web.Request) -> web.Response:
        return self.ok([self.sim.task_data(task) for task in self.sim.tasks.values()])

    async def get_faults(self, request: web.Request) -> web.Response:
        return self.ok(self.sim.faults.snapshot())

    async def set_faults(self, request: web.Request) -> web.Response:
        body = await self.json_body(request)
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        try:
            self.sim.faults.configure(body)
        except (TypeError, ValueError) as exc:
            raise bad_request(str(exc)) from None
        return self.ok(self.sim.faults.snapshot())

    async def advance_clock(self, request: web.Request) -> web.Response:
        body = await self.json_body(request)
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if not isinstance(seconds, int | float) or seconds < 0:
            raise bad_request('body must be {"seconds": <number >= 0>}')
        self.sim.clock.advance(float(seconds))
        return self.ok({"now": self.sim.clock.now().isoformat()})

    async def list_requests(self, request: web.Request) -> web.Response:
        return self.ok([record.as_dict() for record in self.sim.requests])
