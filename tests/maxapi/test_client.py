"""Tests for the Max API client against a scripted aiohttp server on 127.0.0.1.

Each test scripts the answers the fake server gives (``api.script(...)``) and then checks
what the client returned or raised and what the server saw (``api.seen``): the request
count is how we prove that submit never retries and that 4xx answers are not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import traceback
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot import USER_AGENT, maxapi
from bot.domain.job_states import JobState
from bot.maxapi import (
    AmbiguousSubmit,
    ContentRejected,
    InsufficientCredits,
    InvalidParameters,
    MalformedResponse,
    MaxApiClient,
    MaxApiError,
    NetworkError,
    RateLimited,
    ServerError,
    Task,
    TaskNotFound,
    TaskResult,
    TaskStatus,
    Unauthorized,
    Unavailable,
    parse_envelope,
    parse_retry_after,
    parse_task,
    parse_timestamp,
)
from bot.settings import Secret
from tests.helpers.jobs import follow, harness

KEY = "sk-test-9f3a1c0ffee-never-show-me"
TASK_ID = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"

# ------------------------------------------------------------------ shapes from examples.json
# Copied from /work/shared/maxapi/examples.json (the docs' own placeholders) so that the
# suite does not depend on files outside the repository.

SUBMIT_T2I = {
    "model": "grok-imagine/text-to-image-lite",
    "callBackUrl": "https://example.com/webhook",
    "input": {"prompt": "A cyberpunk samurai in neon Tokyo rain", "n": 2},
}
SUBMIT_I2I = {
    "model": "seedream-4.5",
    "callBackUrl": "https://example.com/webhook",
    "input": {
        "prompt": "Transform to watercolor style",
        "imageUrls": ["https://example.com/photo.jpg"],
        "ratio": "16:9",
        "resolution": "2k",
    },
}
SUBMIT_I2V = {
    "model": "veo3",
    "callBackUrl": "https://example.com/webhook",
    "input": {
        "prompt": "The waves gently move and the sun slowly sets",
        "ratio": "16:9",
        "imageUrls": ["https://example.com/beach.jpg"],
    },
}
SUBMIT_JIMENG = {
    "model": "jimeng-4.5",
    "input": {"prompt": "Cyberpunk Tokyo street", "ratio": "16:9", "resolution": "2k"},
}
SUBMIT_OK = {"code": 0, "msg": "ok", "data": {"taskId": TASK_ID}}
CANCEL_OK = {"code": 0, "msg": "ok"}

CATEGORIES = {
    "harassment": False,
    "harassment/threatening": False,
    "sexual": True,
    "hate": False,
    "hate/threatening": False,
    "illicit": False,
    "illicit/violent": False,
    "self-harm/intent": False,
    "self-harm/instructions": False,
    "self-harm": False,
    "sexual/minors": False,
    "violence": True,
    "violence/graphic": False,
}
MODERATION = {
    "code": 400,
    "msg": "content rejected by moderation",
    "data": {"flagged": True, "categories": CATEGORIES},
}

QUERY_IMAGE = {
    "code": 0,
    "msg": "ok",
    "data": {
        "taskId": "c3d4e5f6-a7b8-9012-cdef-234567890abc",
        "status": "SUCCESS",
        "input": {
            "model": "seedream-4.5",
            "prompt": "Transform to watercolor style",
            "imageUrls": ["https://example.com/photo.jpg"],
            "ratio": "16:9",
            "resolution": "2k",
        },
        "result": {
            "type": "image",
            "urls": [
                "https://example.com/output/result1.png",
                "https://example.com/output/result2.png",
            ],
        },
        "created_at": "2026-02-10T22:00:00.000000Z",
        "updated_at": "2026-02-10T22:00:15.000000Z",
    },
}
QUERY_VIDEO = {
    "code": 0,
    "msg": "ok",
    "data": {
        "taskId": TASK_ID,
        "status": "SUCCESS",
        "input": {
            "model": "veo3",
            "prompt": "Ocean waves crashing on a rocky shore at golden hour",
            "ratio": "16:9",
            "resolution": "1080p",
        },
        "result": {"type": "video", "urls": ["https://example.com/output/video-a1b2c3d4.mp4"]},
        "created_at": "2026-02-12T10:00:00.000000Z",
        "updated_at": "2026-02-12T10:02:30.000000Z",
    },
}
QUERY_MINIMAL = {
    "code": 0,
    "msg": "ok",
    "data": {
        "taskId": TASK_ID,
        "status": "SUCCESS",
        "input": {
            "model": "gpt-image-2/text-to-image",
            "prompt": "A crow running down a neon-lit street",
        },
        "result": {"type": "image", "urls": ["https://cdn.maxapi.io/images/.../image-0.png"]},
    },
}
QUERY_FAILURE = {
    "code": 0,
    "msg": "ok",
    "data": {
        "taskId": TASK_ID,
        "status": "FAILURE",
        "input": {"model": "seedream-4.5", "prompt": "..."},
        "result": None,
        "failure_reason": "CONTENT_MODERATION",
        "created_at": "2026-02-10T22:00:00.000000Z",
        "updated_at": "2026-02-10T22:00:15.000000Z",
    },
}
WEBHOOK_SUCCESS = {  # no microseconds in its timestamps
    "code": 0,
    "msg": "ok",
    "data": {
        "taskId": TASK_ID,
        "status": "SUCCESS",
        "input": {"model": "jimeng-4.5", "prompt": "...", "ratio": "16:9", "resolution": "2k"},
        "result": {"type": "image", "urls": ["https://cdn.example.com/image1.jpg"]},
        "created_at": "2026-02-11T10:00:00Z",
        "updated_at": "2026-02-11T10:01:30Z",
    },
}


def task_envelope(**fields: Any) -> dict[str, Any]:
    """A query answer for TASK_ID; ``fields`` override or add task fields."""
    data: dict[str, Any] = {"taskId": TASK_ID, "status": "PENDING", "input": {}} | fields
    return {"code": 0, "msg": "ok", "data": data}


# ------------------------------------------------------------------ the scripted server


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; str/bytes → sent as is; None → empty
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # hold the answer this long (released early at teardown)
    drop: bool = False  # close the connection instead of answering


@dataclass
class Seen:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeMaxApi:
    """Answers each request with the next scripted Reply; the last one repeats."""

    def __init__(self) -> None:
        self.url = ""
        self.replies: list[Reply] = [Reply(500, {"code": 500, "msg": "not scripted"})]
        self.seen: list[Seen] = []
        self.release = asyncio.Event()

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.raw_path, dict(request.headers), body))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if reply.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), reply.delay)
        if reply.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if isinstance(reply.body, dict | list):
            payload = json.dumps(reply.body, ensure_ascii=False).encode()
            ctype = "application/json"
        elif isinstance(reply.body, str):
            payload, ctype = reply.body.encode(), "text/html"
        else:
            payload, ctype = reply.body or b"", "application/octet-stream"
        return web.Response(
            status=reply.status, body=payload, content_type=ctype, headers=reply.headers
        )


@pytest.fixture
async def api() -> AsyncIterator[FakeMaxApi]:
    fake = FakeMaxApi()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    fake.url = str(server.make_url("/"))
    yield fake
    fake.release.set()
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def make_client(api: FakeMaxApi, session: aiohttp.ClientSession) -> Callable[..., MaxApiClient]:
    def make(**overrides: Any) -> MaxApiClient:
        options: dict[str, Any] = {
            "timeout": 5.0,
            "retries": 2,
            "backoff_base": 0.001,
            "backoff_cap": 0.01,
        }
        base_url = overrides.pop("base_url", api.url)
        return MaxApiClient(session, base_url, Secret(KEY), **(options | overrides))

    return make


@pytest.fixture
def client(make_client: Callable[..., MaxApiClient]) -> MaxApiClient:
    return make_client()


@pytest.fixture(autouse=True)
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record backoff delays instead of sleeping through them."""
    recorded: list[float] = []

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr("bot.maxapi.client._sleep", fake_sleep)
    return recorded


async def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    server = TestServer(web.Application(), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("/"))
    await server.close()
    return url


async def call(client: MaxApiClient, op: str) -> Any:
    if op == "submit":
        return await client.submit("seedream-4.5", {"prompt": "a fox"})
    if op == "get":
        return await client.get(TASK_ID)
    return await client.cancel(TASK_ID)


# ------------------------------------------------------------------ submit: success


@pytest.mark.parametrize(
    ("request_body", "user_id"),
    [(SUBMIT_T2I, None), (SUBMIT_I2I, "discord:1234"), (SUBMIT_I2V, None), (SUBMIT_JIMENG, "u")],
    ids=["t2i", "i2i+user", "i2v", "jimeng-no-callback+user"],
)
async def test_submit_sends_documented_body_and_returns_task_id(
    api: FakeMaxApi, client: MaxApiClient, request_body: dict[str, Any], user_id: str | None
) -> None:
    api.script(Reply(200, SUBMIT_OK))
    task_id = await client.submit(
        request_body["model"],
        request_body["input"],
        callback_url=request_body.get("callBackUrl"),
        user_id=user_id,
    )
    assert task_id == TASK_ID
    [seen] = api.seen
    assert (seen.method, seen.raw_path) == ("POST", "/api/v1/task/submit")
    expected = dict(request_body)
    if user_id is not None:
        expected["user_id"] = user_id
    assert seen.json() == expected
    assert ("callBackUrl" in seen.json()) == ("callBackUrl" in request_body)
    assert "callbackUrl" not in seen.json() and "callback_url" not in seen.json()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"code": 0, "msg": "ok", "data": {"taskId": "t-1", "eta": 12}, "traceId": "x"}, "t-1"),
        ({"code": "0", "msg": "ok", "data": {"taskId": "t-2"}}, "t-2"),
        ({"code": 0, "data": {"taskId": 12345}}, "12345"),
        ({"code": 0, "msg": "ok", "data": {"task_id": " t-3 "}}, "t-3"),
        ({"msg": "ok", "data": {"taskId": "t-4"}}, "t-4"),
    ],
    ids=["extra-fields", "string-code", "numeric-id", "snake-case-id", "no-code"],
)
async def test_submit_tolerates_answer_variants(
    api: FakeMaxApi, client: MaxApiClient, answer: dict[str, Any], expected: str
) -> None:
    api.script(Reply(200, answer))
    assert await client.submit("nano-banana", {"prompt": "x"}) == expected


async def test_requests_carry_auth_user_agent_and_json(
    api: FakeMaxApi, client: MaxApiClient
) -> None:
    api.script(Reply(200, SUBMIT_OK), Reply(200, QUERY_VIDEO), Reply(200, CANCEL_OK))
    await client.submit("veo3", {"prompt": "waves"})
    await client.get(TASK_ID)
    await client.cancel(TASK_ID)
    assert [(s.method, s.raw_path) for s in api.seen] == [
        ("POST", "/api/v1/task/submit"),
        ("GET", f"/api/v1/task/{TASK_ID}"),
        ("POST", f"/api/v1/task/{TASK_ID}/cancel"),
    ]
    for seen in api.seen:
        assert seen.headers["Authorization"] == f"Bearer {KEY}"
        assert seen.headers["User-Agent"] == USER_AGENT
    assert api.seen[0].headers["Content-Type"].startswith("application/json")
    assert api.seen[2].body == b""


async def test_base_url_path_prefix_is_kept(
    api: FakeMaxApi, make_client: Callable[..., MaxApiClient]
) -> None:
    api.script(Reply(200, SUBMIT_OK))
    client = make_client(base_url=api.url + "proxy/maxapi/")
    await client.submit("veo3", {"prompt": "waves"})
    assert api.seen[0].raw_path == "/proxy/maxapi/api/v1/task/submit"


@pytest.mark.parametrize(
    ("task_id", "raw_get", "raw_cancel"),
    [
        ("a/b c", "/api/v1/task/a%2Fb%20c", "/api/v1/task/a%2Fb%20c/cancel"),
        ("x?y#z", "/api/v1/task/x%3Fy%23z", "/api/v1/task/x%3Fy%23z/cancel"),
        ("../submit", "/api/v1/task/..%2Fsubmit", "/api/v1/task/..%2Fsubmit/cancel"),
    ],
)
async def test_task_id_is_quoted_in_the_path(
    api: FakeMaxApi, client: MaxApiClient, task_id: str, raw_get: str, raw_cancel: str
) -> None:
    api.script(Reply(200, task_envelope(taskId=task_id)), Reply(200, CANCEL_OK))
    assert (await client.get(task_id)).task_id == task_id
    await client.cancel(task_id)
    assert [s.raw_path for s in api.seen] == [raw_get, raw_cancel]


@pytest.mark.parametrize("task_id", ["", "   ", ".", ".."])
async def test_unusable_task_ids_are_refused_before_sending(
    api: FakeMaxApi, client: MaxApiClient, task_id: str
) -> None:
    with pytest.raises(ValueError):
        await client.get(task_id)
    with pytest.raises(ValueError):
        await client.cancel(task_id)
    assert api.seen == []


async def test_submit_refuses_bad_arguments_before_sending(
    api: FakeMaxApi, client: MaxApiClient
) -> None:
    with pytest.raises(ValueError):
        await client.submit("", {"prompt": "x"})
    with pytest.raises(TypeError):
        await client.submit("veo3", {"prompt": object()})
    assert api.seen == []


# ------------------------------------------------------------------ get / cancel: success

EPOCH_0210 = datetime(2026, 2, 10, 22, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("answer", "status", "kind", "urls", "reason", "created", "updated"),
    [
        (
            QUERY_IMAGE,
            TaskStatus.SUCCESS,
            "image",
            ("https://example.com/output/result1.png", "https://example.com/output/result2.png"),
            None,
            EPOCH_0210,
            EPOCH_0210 + timedelta(seconds=15),
        ),
        (
            QUERY_VIDEO,
            TaskStatus.SUCCESS,
            "video",
            ("https://example.com/output/video-a1b2c3d4.mp4",),
            None,
            datetime(2026, 2, 12, 10, 0, tzinfo=UTC),
            datetime(2026, 2, 12, 10, 2, 30, tzinfo=UTC),
        ),
        (
            QUERY_MINIMAL,
            TaskStatus.SUCCESS,
            "image",
            ("https://cdn.maxapi.io/images/.../image-0.png",),
            None,
            None,
            None,
        ),
        (
            QUERY_FAILURE,
            TaskStatus.FAILURE,
            None,
            None,
            "CONTENT_MODERATION",
            EPOCH_0210,
            EPOCH_0210 + timedelta(seconds=15),
        ),
        (
            WEBHOOK_SUCCESS,
            TaskStatus.SUCCESS,
            "image",
            ("https://cdn.example.com/image1.jpg",),
            None,
            datetime(2026, 2, 11, 10, 0, tzinfo=UTC),
            datetime(2026, 2, 11, 10, 1, 30, tzinfo=UTC),
        ),
    ],
    ids=["image-microseconds", "video", "minimal-input", "failure", "no-microseconds"],
)
async def test_get_parses_documented_shapes(
    api: FakeMaxApi,
    client: MaxApiClient,
    answer: dict[str, Any],
    status: TaskStatus,
    kind: str | None,
    urls: tuple[str, ...] | None,
    reason: str | None,
    created: datetime | None,
    updated: datetime | None,
) -> None:
    api.script(Reply(200, answer))
    task = await client.get(answer["data"]["taskId"])
    assert isinstance(task, Task)
    assert task.task_id == answer["data"]["taskId"]
    assert task.status is status
    assert task.input == answer["data"]["input"]
    assert task.failure_reason == reason
    assert task.created_at == created
    assert task.updated_at == updated
    if kind is None:
        assert task.result is None
    else:
        assert task.result == TaskResult(kind=kind, urls=urls or ())
    assert [s.method for s in api.seen] == ["GET"]


async def test_get_ignores_unknown_fields_and_missing_optionals(
    api: FakeMaxApi, client: MaxApiClient
) -> None:
    answer = task_envelope(status="PROCESSING", progress=42, cost={"usd": 0.1}, nested=[1, 2])
    answer["traceId"] = "abc"
    api.script(Reply(200, answer))
    task = await client.get(TASK_ID)
    assert task.status is TaskStatus.PROCESSING
    assert (task.result, task.failure_reason, task.created_at, task.updated_at) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("answer", [CANCEL_OK, {"code": 0, "msg": "ok", "data": None}])
async def test_cancel_success(api: FakeMaxApi, client: MaxApiClient, answer: Any) -> None:
    api.script(Reply(200, answer))
    await client.cancel(TASK_ID)  # returns nothing; success is "no exception"
    assert [(s.method, s.raw_path) for s in api.seen] == [
        ("POST", f"/api/v1/task/{TASK_ID}/cancel")
    ]


# ------------------------------------------------------------------ parse_task & helpers


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        ({}, "failure_reason", None),
        ({"failReason": "INSUFFICIENT_POINTS"}, "failure_reason", "INSUFFICIENT_POINTS"),
        ({"failure_reason": None, "failReason": "X"}, "failure_reason", "X"),
        ({"failure_reason": "A", "failReason": "B"}, "failure_reason", "A"),
        ({"failure_reason": "  "}, "failure_reason", None),
        ({"status": "success"}, "status", TaskStatus.SUCCESS),
        ({"status": "CANCELED"}, "status", TaskStatus.CANCELLED),
        ({"status": "FAILED"}, "status", TaskStatus.FAILURE),
        ({"input": None}, "input", {}),
        ({"input": "not an object"}, "input", {}),
        ({"taskId": 987}, "task_id", "987"),
        ({"result": None}, "result", None),
        ({"result": {}}, "result", None),
        ({"result": {"type": "IMAGE", "urls": ["u"]}}, "result", TaskResult("image", ("u",))),
        ({"result": {"type": "audio", "urls": ["u"]}}, "result", TaskResult("audio", ("u",))),
        (
            {"result": {"urls": ["https://x/v.MP4?sig=1"]}},
            "result",
            TaskResult("video", ("https://x/v.MP4?sig=1",)),
        ),
        (
            {"result": {"urls": ["https://x/a.png"]}},
            "result",
            TaskResult("image", ("https://x/a.png",)),
        ),
        (
            {"result": {"type": "video", "url": "https://x/v"}},
            "result",
            TaskResult("video", ("https://x/v",)),
        ),
        (
            {"result": {"type": "image", "urls": ["a", 3, None, ""]}},
            "result",
            TaskResult("image", ("a",)),
        ),
        (
            {"createdAt": "2026-02-11T10:00:00Z"},
            "created_at",
            datetime(2026, 2, 11, 10, tzinfo=UTC),
        ),
    ],
)
def test_parse_task_tolerance(fields: dict[str, Any], attribute: str, expected: Any) -> None:
    assert getattr(parse_task(task_envelope(**fields)["data"]), attribute) == expected


@pytest.mark.parametrize(
    "data",
    [
        {"status": "SUCCESS"},
        {"taskId": "", "status": "SUCCESS"},
        {"taskId": "x"},
        {"taskId": "x", "status": 3},
        {"taskId": "x", "status": "EXPLODED"},
        {"taskId": "x", "status": "SUCCESS", "result": ["https://x/a.png"]},
        {"taskId": "x", "status": "SUCCESS", "result": {"type": "image", "urls": 5}},
        ["not", "an", "object"],
    ],
)
def test_parse_task_rejects_what_it_cannot_trust(data: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_task(data)


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """Run with a local time zone far from UTC, so a naive time read as local shows."""
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset")
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-10T21:54:46.686768Z", datetime(2026, 2, 10, 21, 54, 46, 686768, tzinfo=UTC)),
        ("2026-02-11T10:00:00Z", datetime(2026, 2, 11, 10, 0, tzinfo=UTC)),
        ("2026-02-11T10:00:00.5Z", datetime(2026, 2, 11, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-02-11T18:00:00+08:00", datetime(2026, 2, 11, 10, 0, tzinfo=UTC)),
        ("2026-02-11 10:00:00", datetime(2026, 2, 11, 10, 0, tzinfo=UTC)),
        (1770804000, datetime(2026, 2, 11, 10, 0, tzinfo=UTC)),
        (1770804000000, datetime(2026, 2, 11, 10, 0, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (True, None),
        ({"t": 1}, None),
    ],
)
def test_parse_timestamp(value: Any, expected: datetime | None, far_from_utc: None) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "status", ["PENDING", "PROCESSING", "SUBMITTED", "SUCCESS", "FAILURE", "TIMEOUT", "CANCELLED"]
)
def test_status_values_are_max_api_spellings(status: str) -> None:
    assert TaskStatus(status) == status


NOW = datetime(2026, 2, 11, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-3", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        (None, None),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("Wed, 11 Feb 2026 10:02:00 GMT", 120.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("body", "task_id"),
    [
        (json.dumps(WEBHOOK_SUCCESS).encode(), TASK_ID),
        (b'{"code":0,"data":{"taskId":"abc"}}', "abc"),
        (b'{"data":{"task_id":" abc "}}', "abc"),
        (b'{"taskId":123}', "123"),
        (b'{"data":{"taskId":""}}', None),
        (b'{"code":0,"data":{"status":"SUCCESS"}}', None),
        (b"[1,2]", None),
        (b"\xff\xfe", None),
        (b"not json", None),
        (b"", None),
    ],
)
def test_callback_task_id_is_lenient(body: bytes, task_id: str | None) -> None:
    assert maxapi.callback_task_id(body) == task_id


def test_callback_tokens_are_fresh_and_have_the_checked_shape() -> None:
    tokens = {maxapi.new_callback_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(maxapi.is_callback_token(token) for token in tokens)
    token = tokens.pop()
    for forged in [token[:-1], token + "a", token[:-1] + ".", token[:-1] + "é", ""]:
        assert not maxapi.is_callback_token(forged), forged


def test_parse_envelope() -> None:
    assert parse_envelope({"code": 400, "msg": "错误描述"}) == maxapi.Envelope(
        400, "错误描述", None
    )
    assert parse_envelope({"data": {"a": 1}}).code is None
    bad: Any
    for bad in ([], "x", {"code": "zero"}, {"code": 1.5}, {"code": True}):
        with pytest.raises(MalformedResponse):
            parse_envelope(bad)


# ------------------------------------------------------------------ typed errors, both styles

# (id, envelope, expected class). Each runs as HTTP status == code with the envelope, and
# as HTTP 200 with the same envelope, on every endpoint.
ERROR_CASES: list[tuple[str, dict[str, Any], type[MaxApiError]]] = [
    ("unauthorized", {"code": 401, "msg": "unauthorized"}, Unauthorized),
    ("generic-chinese", {"code": 400, "msg": "错误描述"}, InvalidParameters),
    ("validation", {"code": 400, "msg": "input.prompt is required"}, InvalidParameters),
    ("unprocessable", {"code": 422, "msg": "ratio must be 16:9 or 9:16"}, InvalidParameters),
    ("moderation", MODERATION, ContentRejected),
    ("credits-402", {"code": 402, "msg": "payment required"}, InsufficientCredits),
    ("credits-points", {"code": 400, "msg": "INSUFFICIENT_POINTS"}, InsufficientCredits),
    ("credits-balance", {"code": 400, "msg": "Insufficient balance"}, InsufficientCredits),
    ("credits-余额", {"code": 400, "msg": "账户余额不足"}, InsufficientCredits),
    ("credits-积分", {"code": 400, "msg": "积分不足，请充值"}, InsufficientCredits),
    (
        "credits-in-data",
        {"code": 400, "msg": "refused", "data": {"reason": "INSUFFICIENT_POINTS"}},
        InsufficientCredits,
    ),
    ("rate-limited", {"code": 429, "msg": "too many requests"}, RateLimited),
]


@pytest.mark.parametrize("op", ["submit", "get", "cancel"])
@pytest.mark.parametrize("style", ["http-status", "http-200"])
@pytest.mark.parametrize(
    ("envelope", "expected"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
async def test_error_classification(
    api: FakeMaxApi,
    client: MaxApiClient,
    op: str,
    style: str,
    envelope: dict[str, Any],
    expected: type[MaxApiError],
) -> None:
    http_status = envelope["code"] if style == "http-status" else 200
    api.script(Reply(http_status, envelope))
    with pytest.raises(MaxApiError) as info:
        await call(client, op)
    err = info.value
    assert type(err) is expected
    assert err.message == envelope["msg"]
    assert err.code == envelope["code"]
    assert err.http_status == http_status
    assert err.transient is (expected is RateLimited)
    if expected is ContentRejected:
        assert isinstance(err, ContentRejected)
        assert err.categories == ("sexual", "violence")
    # 4xx is never retried, 429 is retried by get/cancel only, submit never.
    retried = expected is RateLimited and op != "submit"
    assert len(api.seen) == (3 if retried else 1)


@pytest.mark.parametrize("style", ["http-status", "http-200"])
@pytest.mark.parametrize("op", ["get", "cancel"])
@pytest.mark.parametrize(
    "envelope",
    [
        {"code": 404, "msg": "task not found"},
        {"code": 400, "msg": "任务不存在"},
        {"code": 400, "msg": "Task does not exist"},
    ],
    ids=["404", "chinese", "english-400"],
)
async def test_task_not_found(
    api: FakeMaxApi, client: MaxApiClient, style: str, op: str, envelope: dict[str, Any]
) -> None:
    http_status = envelope["code"] if style == "http-status" else 200
    api.script(Reply(http_status, envelope))
    with pytest.raises(TaskNotFound) as info:
        await call(client, op)
    assert info.value.message == envelope["msg"]
    assert len(api.seen) == 1


@pytest.mark.parametrize(
    ("flagged_data", "categories"),
    [
        ({"flagged": True, "categories": CATEGORIES}, ("sexual", "violence")),
        ({"flagged": True}, ()),
        ({"flagged": True, "categories": ["hate", 3]}, ("hate",)),
        ({"flagged": True, "categories": {"self-harm": True, "x": "yes"}}, ("self-harm",)),
    ],
)
async def test_moderation_flag_alone_is_enough(
    api: FakeMaxApi, client: MaxApiClient, flagged_data: dict[str, Any], categories: Any
) -> None:
    api.script(Reply(400, {"code": 400, "msg": "blocked", "data": flagged_data}))
    with pytest.raises(ContentRejected) as info:
        await client.submit("seedance-2.0", {"prompt": "x"})
    assert info.value.categories == categories
    assert info.value.message == "blocked"


async def test_chinese_moderation_message_is_preserved(
    api: FakeMaxApi, client: MaxApiClient
) -> None:
    api.script(Reply(200, {"code": 400, "msg": "内容审核未通过"}))
    with pytest.raises(ContentRejected) as info:
        await client.submit("seedance-2.0", {"prompt": "x"})
    assert info.value.message == "内容审核未通过"
    assert "内容审核未通过" in str(info.value)


# (id, op, reply, expected class, retried by get/cancel?)
STATUS_ONLY_CASES: list[tuple[str, str, Reply, type[MaxApiError]]] = [
    ("401-html", "get", Reply(401, "<html>401 Authorization Required</html>"), Unauthorized),
    ("403-empty", "get", Reply(403), Unauthorized),
    ("402-text", "get", Reply(402, "Payment Required"), InsufficientCredits),
    ("400-text-submit", "submit", Reply(400, "Bad Request"), InvalidParameters),
    ("404-html-get", "get", Reply(404, "<html>Not Found</html>"), MaxApiError),
    ("404-html-cancel", "cancel", Reply(404, "<h1>task not found</h1>"), MaxApiError),
    ("404-html-submit", "submit", Reply(404, "<html>Not Found</html>"), MaxApiError),
    ("404-envelope-submit", "submit", Reply(404, {"code": 404, "msg": "no route"}), MaxApiError),
    ("413-submit", "submit", Reply(413, "too large"), MaxApiError),
    ("302-get", "get", Reply(302, headers={"Location": "http://127.0.0.1:9/x"}), MaxApiError),
    ("302-submit", "submit", Reply(307, headers={"Location": "http://127.0.0.1:9/x"}), MaxApiError),
    ("400-code-0", "get", Reply(400, {"code": 0, "msg": "ok"}), InvalidParameters),
    ("401-status-code-400", "get", Reply(401, {"code": 400, "msg": "bad"}), Unauthorized),
    ("200-unknown-code", "submit", Reply(200, {"code": 1001, "msg": "参数错误"}), MaxApiError),
]


@pytest.mark.parametrize(
    ("op", "reply", "expected"),
    [c[1:] for c in STATUS_ONLY_CASES],
    ids=[c[0] for c in STATUS_ONLY_CASES],
)
async def test_classification_by_status_and_contradictions(
    api: FakeMaxApi, client: MaxApiClient, op: str, reply: Reply, expected: type[MaxApiError]
) -> None:
    api.script(reply)
    with pytest.raises(MaxApiError) as info:
        await call(client, op)
    assert type(info.value) is expected, repr(info.value)
    assert not isinstance(info.value, AmbiguousSubmit)
    assert not info.value.transient
    assert info.value.http_status == reply.status
    assert len(api.seen) == 1


async def test_bare_404_points_at_the_base_url(api: FakeMaxApi, client: MaxApiClient) -> None:
    api.script(Reply(404, "<html>Not Found</html>"))
    with pytest.raises(MaxApiError) as info:
        await client.get(TASK_ID)
    assert "MAXAPI_BASE_URL" in str(info.value)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(500, {"code": 500, "msg": "internal error"}),
        Reply(502, "<html>Bad Gateway</html>"),
        Reply(503),
        Reply(500, {"code": 402, "msg": "余额不足"}),
        Reply(200, {"code": 500, "msg": "服务器内部错误"}),
        Reply(200, {"code": 503, "msg": "upstream busy"}),
    ],
    ids=["500-envelope", "502-html", "503-empty", "500-beats-code", "200-code-500", "200-code-503"],
)
@pytest.mark.parametrize("op", ["get", "cancel"])
async def test_server_errors_are_transient_and_retried_then_raised(
    api: FakeMaxApi, client: MaxApiClient, delays: list[float], op: str, reply: Reply
) -> None:
    api.script(reply)
    with pytest.raises(ServerError) as info:
        await call(client, op)
    assert info.value.transient
    assert info.value.http_status == reply.status
    assert len(api.seen) == 3  # 1 + retries=2
    assert len(delays) == 2
    if isinstance(reply.body, dict):
        assert info.value.message == reply.body["msg"]


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, "<html>hello</html>"),
        Reply(200, b""),
        Reply(200, b"\xff\xfe not utf-8"),
        Reply(200, []),
        Reply(200, {"code": "zero"}),
        Reply(200, {"code": 0, "msg": "ok"}),
        Reply(200, {"code": 0, "msg": "ok", "data": {"status": "SUCCESS"}}),
        Reply(200, {"code": 0, "msg": "ok", "data": {"taskId": "x", "status": "WEIRD"}}),
        Reply(200, b"x" * (maxapi.MAX_BODY_BYTES + 10)),
    ],
    ids=[
        "html",
        "empty",
        "binary",
        "json-list",
        "bad-code",
        "no-data",
        "no-task-id",
        "unknown-status",
        "too-big",
    ],
)
async def test_get_malformed_answers_are_not_retried(
    api: FakeMaxApi, client: MaxApiClient, reply: Reply
) -> None:
    api.script(reply)
    with pytest.raises(MalformedResponse) as info:
        await client.get(TASK_ID)
    assert not info.value.transient
    assert len(api.seen) == 1


BOMB_BYTES = 200 * 1024 * 1024


def gzip_bomb(size: int = BOMB_BYTES) -> bytes:
    """A gzip body of ``size`` spaces after a JSON start (about 200 KB for 200 MiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b'{"code": 0, "msg": "')]
    block = b" " * (1024 * 1024)
    parts += [packer.compress(block) for _ in range(size // len(block))]
    parts.append(packer.flush())
    return b"".join(parts)


@pytest.mark.parametrize("op", ["submit", "get", "cancel"])
async def test_gzip_answer_is_capped_after_decompression(
    api: FakeMaxApi, client: MaxApiClient, op: str
) -> None:
    # The compressed body is far under the cap (and says so in Content-Length); only
    # counting the decompressed bytes catches it. Memory, not time, is the proof.
    bomb = gzip_bomb()
    assert len(bomb) < maxapi.MAX_BODY_BYTES
    api.script(Reply(200, bomb, headers={"Content-Encoding": "gzip"}))
    tracemalloc.start()
    try:
        with pytest.raises((MalformedResponse, AmbiguousSubmit)) as info:
            await call(client, op)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"{peak} bytes held for a {BOMB_BYTES}-byte bomb"
    err = info.value
    cause = err.__cause__ if isinstance(err, AmbiguousSubmit) else err
    assert isinstance(cause, MalformedResponse)
    assert "larger than" in str(cause)
    assert isinstance(err, AmbiguousSubmit) is (op == "submit")
    assert len(api.seen) == 1


# ------------------------------------------------------------------ retries


async def test_get_retries_server_errors_then_succeeds(
    api: FakeMaxApi, make_client: Callable[..., MaxApiClient], delays: list[float]
) -> None:
    api.script(
        Reply(500, {"code": 500, "msg": "x"}),
        Reply(502, "bad gateway"),
        Reply(200, {"code": 500, "msg": "in-band"}),
        Reply(200, QUERY_VIDEO),
    )
    task = await make_client(retries=3).get(TASK_ID)
    assert task.status is TaskStatus.SUCCESS
    assert len(api.seen) == 4
    assert len(delays) == 3


@pytest.mark.parametrize("retries", [0, 1, 4])
async def test_get_gives_up_after_retries(
    api: FakeMaxApi, make_client: Callable[..., MaxApiClient], retries: int
) -> None:
    api.script(Reply(503, {"code": 503, "msg": "busy"}))
    with pytest.raises(ServerError):
        await make_client(retries=retries).get(TASK_ID)
    assert len(api.seen) == retries + 1


async def test_cancel_retries_then_succeeds(api: FakeMaxApi, client: MaxApiClient) -> None:
    api.script(Reply(500), Reply(429, {"code": 429, "msg": "slow down"}), Reply(200, CANCEL_OK))
    await client.cancel(TASK_ID)
    assert [s.raw_path for s in api.seen] == [f"/api/v1/task/{TASK_ID}/cancel"] * 3


async def test_backoff_is_jittered_exponential_and_capped(
    api: FakeMaxApi, make_client: Callable[..., MaxApiClient], delays: list[float]
) -> None:
    api.script(Reply(503))
    with pytest.raises(ServerError):
        await make_client(retries=6, backoff_base=0.1, backoff_cap=0.25).get(TASK_ID)
    assert len(delays) == 6
    for attempt, delay in enumerate(delays):
        assert 0 <= delay <= min(0.25, 0.1 * 2**attempt)
    assert len(set(delays)) > 1  # full jitter, not a fixed schedule


async def test_get_honours_retry_after(
    api: FakeMaxApi, make_client: Callable[..., MaxApiClient], delays: list[float]
) -> None:
    api.script(
        Reply(429, {"code": 429, "msg": "slow down"}, headers={"Retry-After": "2"}),
        Reply(200, QUERY_IMAGE),
    )
    client = make_client(backoff_base=0.001, backoff_cap=5.0)
    assert (await client.get("c3d4e5f6-a7b8-9012-cdef-234567890abc")).status is TaskStatus.SUCCESS
    assert len(delays) == 1 and 2.0 <= delays[0] <= 5.0
    assert len(api.seen) == 2


async def test_retry_after_longer_than_cap_is_left_to_the_caller(
    api: FakeMaxApi, make_client: Callable[..., MaxApiClient], delays: list[float]
) -> None:
    api.script(Reply(429, "Too Many Requests", headers={"Retry-After": "120"}))
    with pytest.raises(RateLimited) as info:
        await make_client(backoff_cap=10.0).get(TASK_ID)
    assert info.value.retry_after == 120.0
    assert len(api.seen) == 1 and delays == []


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [("7", 7.0, 7.0), (None, None, None), ("garbage", None, None), ("date+60", 50.0, 61.0)],
)
async def test_rate_limited_carries_retry_after(
    api: FakeMaxApi, client: MaxApiClient, header: str | None, low: Any, high: Any
) -> None:
    if header == "date+60":
        header = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    headers = {"Retry-After": header} if header is not None else {}
    api.script(Reply(429, {"code": 429, "msg": "rate limited"}, headers=headers))
    with pytest.raises(RateLimited) as info:
        await client.submit("veo3", {"prompt": "x"})  # submit: a clean refusal, no retry
    if low is None:
        assert info.value.retry_after is None
    else:
        assert info.value.retry_after is not None
        assert low <= info.value.retry_after <= high
    assert len(api.seen) == 1


async def test_get_retries_after_a_timeout(
    api: FakeMaxApi, make_client: Callable[..., MaxApiClient]
) -> None:
    api.script(Reply(200, QUERY_VIDEO, delay=30), Reply(200, QUERY_VIDEO))
    task = await make_client(timeout=0.3).get(TASK_ID)
    assert task.task_id == TASK_ID
    assert len(api.seen) == 2


async def test_get_times_out_for_good(
    api: FakeMaxApi, make_client: Callable[..., MaxApiClient]
) -> None:
    api.script(Reply(200, QUERY_VIDEO, delay=30))
    with pytest.raises(NetworkError) as info:
        await make_client(timeout=0.2, retries=1).get(TASK_ID)
    assert info.value.transient
    assert "0.2" in str(info.value)
    assert len(api.seen) == 2


async def test_get_retries_a_dropped_connection(api: FakeMaxApi, client: MaxApiClient) -> None:
    api.script(Reply(drop=True), Reply(200, QUERY_VIDEO))
    assert (await client.get(TASK_ID)).status is TaskStatus.SUCCESS
    assert len(api.seen) == 2


async def test_get_connection_refused_is_network_error(
    session: aiohttp.ClientSession, delays: list[float]
) -> None:
    client = MaxApiClient(
        session, await closed_port_url(), Secret(KEY), retries=2, backoff_base=0.001
    )
    with pytest.raises(NetworkError) as info:
        await client.get(TASK_ID)
    assert info.value.transient and not info.value.may_have_been_sent
    assert len(delays) == 2


async def test_real_sleep_is_used_when_not_patched(
    api: FakeMaxApi, make_client: Callable[..., MaxApiClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.maxapi.client._sleep", asyncio.sleep)
    api.script(Reply(500), Reply(200, QUERY_VIDEO))
    assert (await make_client(backoff_base=0.01, backoff_cap=0.02).get(TASK_ID)).result


# ------------------------------------------------------------------ submit: the ambiguity rule

# (id, reply, client timeout, type of the AmbiguousSubmit's cause)
AMBIGUOUS_CASES: list[tuple[str, Reply, float, type[MaxApiError]]] = [
    ("500-envelope", Reply(500, {"code": 500, "msg": "internal error"}), 5.0, ServerError),
    ("502-html", Reply(502, "<html>Bad Gateway</html>"), 5.0, ServerError),
    ("504-empty", Reply(504), 5.0, ServerError),
    ("200-code-500", Reply(200, {"code": 500, "msg": "服务器内部错误"}), 5.0, ServerError),
    ("200-html", Reply(200, "<html>ok?</html>"), 5.0, MalformedResponse),
    ("200-empty", Reply(200, b""), 5.0, MalformedResponse),
    (
        "200-truncated-json",
        Reply(200, b'{"code": 0, "data": {"taskId": "a'),
        5.0,
        MalformedResponse,
    ),
    ("200-no-data", Reply(200, {"code": 0, "msg": "ok"}), 5.0, MalformedResponse),
    ("200-no-task-id", Reply(200, {"code": 0, "msg": "ok", "data": {}}), 5.0, MalformedResponse),
    ("200-empty-task-id", Reply(200, {"code": 0, "data": {"taskId": ""}}), 5.0, MalformedResponse),
    ("200-too-big", Reply(200, b" " * (maxapi.MAX_BODY_BYTES + 1)), 5.0, MalformedResponse),
    ("timeout", Reply(200, SUBMIT_OK, delay=30), 0.3, NetworkError),
    ("dropped", Reply(drop=True), 5.0, NetworkError),
]


@pytest.mark.parametrize(
    ("reply", "client_timeout", "cause"),
    [c[1:] for c in AMBIGUOUS_CASES],
    ids=[c[0] for c in AMBIGUOUS_CASES],
)
async def test_submit_never_retries_and_reports_ambiguity(
    api: FakeMaxApi,
    make_client: Callable[..., MaxApiClient],
    delays: list[float],
    reply: Reply,
    client_timeout: float,
    cause: type[MaxApiError],
) -> None:
    api.script(reply, Reply(200, SUBMIT_OK))  # a retry would succeed: it must not happen
    client = make_client(timeout=client_timeout, retries=3)
    with pytest.raises(AmbiguousSubmit) as info:
        await client.submit("seedream-4.5", {"prompt": "a fox"})
    err = info.value
    assert len(api.seen) == 1
    assert delays == []
    assert not err.transient
    assert type(err.__cause__) is cause
    assert "may have reached Max API" in str(err)


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [
        (Reply(503), None),
        (Reply(503, {"code": 503, "msg": "busy"}, headers={"Retry-After": "7"}), 7.0),
        (Reply(200, {"code": 503, "msg": "upstream busy"}), None),
    ],
    ids=["503-empty", "503-retry-after", "200-code-503"],
)
async def test_submit_answered_503_created_nothing_and_is_not_ambiguous(
    api: FakeMaxApi,
    make_client: Callable[..., MaxApiClient],
    delays: list[float],
    reply: Reply,
    retry_after: float | None,
) -> None:
    api.script(reply, Reply(200, SUBMIT_OK))  # the job service decides when to try again
    with pytest.raises(Unavailable) as info:
        await make_client(retries=3).submit("seedream-4.5", {"prompt": "a fox"})
    assert info.value.retry_after == retry_after
    assert len(api.seen) == 1 and delays == []


async def test_submit_connection_refused_is_a_safe_network_error(
    session: aiohttp.ClientSession,
) -> None:
    client = MaxApiClient(session, await closed_port_url(), Secret(KEY), retries=3)
    with pytest.raises(NetworkError) as info:
        await client.submit("veo3", {"prompt": "x"})
    assert not isinstance(info.value, AmbiguousSubmit)
    assert info.value.transient
    assert info.value.may_have_been_sent is False


# ------------------------------------------------------------------ the key never shows


async def test_key_echoed_by_the_api_is_masked(api: FakeMaxApi, client: MaxApiClient) -> None:
    api.script(Reply(401, {"code": 401, "msg": f"invalid token Bearer {KEY}"}))
    with pytest.raises(Unauthorized) as info:
        await client.get(TASK_ID)
    assert "***" in info.value.message
    assert_no_key(info.value)


async def test_key_is_masked_before_an_error_page_is_cut_short(
    api: FakeMaxApi, client: MaxApiClient
) -> None:
    api.script(Reply(400, "x" * 190 + KEY))
    with pytest.raises(InvalidParameters) as info:
        await client.get(TASK_ID)
    assert KEY[:8] not in str(info.value)
    assert_no_key(info.value)


async def test_key_absent_from_every_error_and_log(
    api: FakeMaxApi,
    make_client: Callable[..., MaxApiClient],
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(timeout=0.3)
    errors: list[MaxApiError] = []
    script: list[tuple[Reply, str]] = [
        (Reply(200, SUBMIT_OK), "submit"),
        (Reply(500, {"code": 500, "msg": f"boom {KEY}"}), "submit"),
        (Reply(500, f"<pre>Authorization: Bearer {KEY}</pre>"), "get"),
        (Reply(200, f"<html>{KEY}</html>"), "submit"),
        (Reply(400, {"code": 400, "msg": KEY}), "cancel"),
        (Reply(200, SUBMIT_OK, delay=30), "submit"),
        (Reply(drop=True), "get"),
    ]
    for reply, op in script:
        api.script(reply)
        try:
            await call(client, op)
        except MaxApiError as exc:
            errors.append(exc)
    refused = MaxApiClient(session, await closed_port_url(), Secret(KEY), retries=0)
    with pytest.raises(NetworkError) as info:
        await refused.submit("veo3", {"prompt": "x"})
    errors.append(info.value)
    assert len(errors) == len(script)  # every scripted failure raised
    for err in errors:
        assert_no_key(err)
    assert KEY not in caplog.text
    for client_ in (client, refused):
        assert KEY not in repr(client_) and KEY not in str(client_)


def assert_no_key(err: BaseException) -> None:
    texts = [str(err), repr(err), "".join(traceback.format_exception(err))]
    cause = err.__cause__
    if cause is not None:
        texts += [str(cause), repr(cause)]
    for text in texts:
        assert KEY not in text


# ------------------------------------------------------------------ construction


def test_client_constructor_checks() -> None:
    fake_session: Any = object()
    with pytest.raises(TypeError):
        MaxApiClient(fake_session, "https://api.maxapi.io", KEY)  # type: ignore[arg-type]
    for bad in ("api.maxapi.io", "ftp://x", ""):
        with pytest.raises(ValueError):
            MaxApiClient(fake_session, bad, Secret(KEY))
    for options in ({"timeout": 0}, {"retries": -1}, {"backoff_base": -1}):
        with pytest.raises(ValueError):
            MaxApiClient(fake_session, "https://api.maxapi.io", Secret(KEY), **options)
    client = MaxApiClient(fake_session, "https://api.maxapi.io/", Secret(KEY))
    assert repr(client) == "MaxApiClient(base_url='https://api.maxapi.io/', timeout=30, retries=3)"


# ------------------------------------------------------------------ how many result URLs


@pytest.mark.parametrize(("options", "kept"), [({}, 1), ({"count": 3}, 3)])
async def test_job_keeps_only_the_result_urls_it_asked_for(
    tmp_path: Path, options: dict[str, Any], kept: int
) -> None:
    # The simulator answers 500 URLs whatever the job asked for.
    async with harness(tmp_path) as h:
        started = await h.start_job("a fox [sim:count=500]", **options)
        assert started.outputs == kept
        done = await follow(h, started.id)
    assert done.state == JobState.SUCCEEDED
    assert len(done.result_urls) == kept
    assert done.result_urls == [
        f"{h.sim.base_url}/files/{started.task_id}/{i}.png" for i in range(kept)
    ]


@pytest.mark.parametrize(("wanted", "kept"), [(1, 1), (4, 4), (15, 15), (0, 10), (-1, 10)])
def test_result_urls_are_cut_to_what_was_asked(wanted: int, kept: int) -> None:
    urls = [f"https://cdn.example.com/{i}.png" for i in range(40)]
    task = parse_task(
        {"taskId": "t", "status": "SUCCESS", "result": {"type": "image", "urls": urls}}
    )
    assert maxapi.result_urls(task, wanted) == urls[:kept]


def test_parser_reads_a_bounded_number_of_result_urls() -> None:
    urls = [f"https://cdn.example.com/{i}.png" for i in range(50_000)]
    task = parse_task({"taskId": "t", "status": "SUCCESS", "result": {"urls": urls}})
    assert task.result is not None
    assert task.result.urls == tuple(urls[: maxapi.MAX_RESULT_URLS])
