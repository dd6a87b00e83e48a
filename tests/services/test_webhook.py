"""The callback receiver against the simulator's real webhooks (loopback allowed)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import maxapi
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.services.poller import Poller
from bot.services.webhook import MAX_BODY_BYTES, MAX_PENDING, CallbackReceiver, route_prefix
from bot.settings import Secret, Settings
from simulator import SimulatorConfig
from tests.helpers.jobs import SCALE, VIDEO, Harness, harness
from tests.helpers.metrics import parse

S = JobState


@dataclass
class Wired:
    h: Harness
    receiver: CallbackReceiver

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.receiver.bound_port}"

    async def post(self, path: str, body: bytes | Any, **kwargs: Any) -> tuple[int, str]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        async with self.h.http.post(f"{self.base}{path}", data=data, **kwargs) as resp:
            return resp.status, await resp.text()


@asynccontextmanager
async def wired(store_target: str) -> AsyncIterator[Wired]:
    config = SimulatorConfig(speed=SCALE, allow_loopback_callbacks=True)
    async with harness(store_target, sim_config=config) as h:
        receiver = CallbackReceiver(
            h.jobs, "http://127.0.0.1/maxapi/hooks/", host="127.0.0.1", port=0
        )
        await receiver.start()
        h.jobs.callback_base_url = f"http://127.0.0.1:{receiver.bound_port}/maxapi/hooks"
        try:
            yield Wired(h, receiver)
        finally:
            await receiver.stop()


@pytest.fixture
async def w(store_target: str) -> AsyncIterator[Wired]:
    async with wired(store_target) as running:
        yield running


def callback_body(job: Job, status: str = "SUCCESS") -> dict[str, Any]:
    result = {"type": "image", "urls": ["https://evil.example/x.png"]}
    return {
        "code": 0,
        "msg": "ok",
        "data": {
            "taskId": job.task_id,
            "status": status,
            "input": {"model": job.model, "prompt": job.prompt},
            "result": result if status == "SUCCESS" else None,
            "failure_reason": None,
        },
    }


async def test_callback_finishes_the_job_without_waiting_for_a_poll(w: Wired) -> None:
    # 50 ms upstream; the first poll would come after 1.2 s (and no poller runs anyway).
    job = await w.h.start_job("wave [sim:seconds=5]", model=VIDEO)
    assert job.callback_token and job.state == S.QUEUED
    sent = w.h.sim.submissions[0].body["callBackUrl"]
    assert sent == f"{w.base}/maxapi/hooks/{job.callback_token}"
    done = await w.h.wait_state(job.id, S.SUCCEEDED, within=5)
    assert w.h.sim.callbacks[0].delivered
    assert job.next_poll_at is not None and done.upstream_done_at is not None
    assert done.upstream_done_at < job.next_poll_at, "finished before the first poll was due"
    # The body was only a hint: the job was re-queried, once.
    assert len(w.h.sim.queries_for(job.task_id or "")) == 1
    assert done.result_urls and done.result_urls[0].startswith(w.h.sim.base_url)


async def test_the_body_is_never_trusted(w: Wired) -> None:
    job = await w.h.start_job("fox [sim:hold]")
    assert job.callback_token is not None
    status, text = await w.post(f"/maxapi/hooks/{job.callback_token}", callback_body(job))
    assert (status, text) == (200, "ok")
    await w.receiver.wait_idle()
    after = await w.h.job(job.id)
    assert after.state in {S.QUEUED, S.RUNNING} and after.result_urls == []
    assert len(w.h.sim.queries_for(job.task_id or "")) == 1  # it asked Max API instead


async def test_a_callback_for_a_job_a_poll_holds_queries_nothing(w: Wired) -> None:
    """A poll (in this or another process) has the job claimed: the callback leaves it to
    that poll; once the claim ends, the next callback queries under its own claim."""
    job = await w.h.start_job("fox [sim:hold]")
    now = w.h.jobs.clock()
    await w.h.store.update(job.id, next_poll_at=now)
    [held] = await w.h.store.claim_due_polls(now, 5, until=now + 60)
    path = f"/maxapi/hooks/{job.callback_token}"
    await w.post(path, callback_body(job))
    await w.receiver.wait_idle()
    assert w.h.sim.queries_for(job.task_id or "") == []
    await w.h.store.update(job.id, next_poll_at=now + 60)  # the poll ended
    await w.post(path, callback_body(job))
    await w.receiver.wait_idle()
    assert len(w.h.sim.queries_for(job.task_id or "")) == 1
    after = await w.h.job(job.id)
    assert after.poll_claimed_until is None and held.id == job.id


async def test_wrong_token_or_unknown_task_does_nothing_and_says_the_same(w: Wired) -> None:
    job = await w.h.start_job("fox [sim:hold]")
    token = job.callback_token or ""
    stranger = {**callback_body(job), "data": {**callback_body(job)["data"], "taskId": "nope"}}
    answers = {
        await w.post(f"/maxapi/hooks/{token[:-1]}x", callback_body(job)),
        await w.post("/maxapi/hooks/" + "a" * 500, callback_body(job)),
        await w.post(f"/maxapi/hooks/{token}", stranger),
        await w.post(f"/maxapi/hooks/{token}", b"not json at all"),
        await w.post(f"/maxapi/hooks/{token}", b'{"code":0,"data":{"status":"SUCCESS"}}'),
    }
    assert answers == {(200, "ok")}, "no answer tells which tokens or tasks exist"
    await w.receiver.wait_idle()
    assert w.h.sim.queries_for(job.task_id or "") == []
    assert (await w.h.job(job.id)).state == S.QUEUED


async def test_oversize_body_is_refused(w: Wired) -> None:
    job = await w.h.start_job("fox [sim:hold]")
    path = f"/maxapi/hooks/{job.callback_token}"
    padded = {**callback_body(job), "padding": "x" * MAX_BODY_BYTES}
    assert (await w.post(path, padded))[0] == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for _ in range(20):
            yield b"x" * 4096

    assert (await w.post(path, chunks()))[0] == 413
    await w.receiver.wait_idle()
    assert w.h.sim.queries_for(job.task_id or "") == []


async def test_callback_racing_the_poller_succeeds_once(w: Wired) -> None:
    job = await w.h.start_job("fox [sim:hold]")
    w.h.sim.finish(job.task_id or "")  # the callback goes out now
    await w.h.sim.wait_for_callbacks(1)
    # The poller's look, a duplicate callback and another look, all at once.
    path = f"/maxapi/hooks/{job.callback_token}"
    await asyncio.gather(
        w.h.jobs.refresh(job),
        w.post(path, callback_body(job)),
        w.h.jobs.refresh(job),
        w.post(path, callback_body(job)),
    )
    await w.receiver.wait_idle()
    done = await w.h.wait_state(job.id, S.SUCCEEDED)
    events = await w.h.store.events(done.id)
    assert [e.to_state for e in events].count("succeeded") == 1
    assert w.h.wakes["delivery"] == 1
    # A late duplicate finds the job already done and does not even ask Max API.
    queries = len(w.h.sim.queries_for(job.task_id or ""))
    assert (await w.post(path, callback_body(job)))[0] == 200
    await w.receiver.wait_idle()
    assert len(w.h.sim.queries_for(job.task_id or "")) == queries


async def test_real_callbacks_and_poller_together_end_each_job_once(w: Wired) -> None:
    poller = Poller(w.h.jobs)
    poller.start()
    try:
        # Upstream ends near the first poll (0.18 s), so callback and poll often collide.
        jobs = [await w.h.start_job(f"fox {i} [sim:seconds=18]") for i in range(6)]
        for job in jobs:
            await w.h.wait_state(job.id, S.SUCCEEDED)
        await w.receiver.wait_idle()
    finally:
        await poller.stop()
    for job in jobs:
        events = await w.h.store.events(job.id)
        assert [e.to_state for e in events].count("succeeded") == 1


async def test_dropped_callback_is_covered_by_the_poller(w: Wired) -> None:
    w.h.sim.faults.drop_callbacks(1)
    poller = Poller(w.h.jobs)
    poller.start()
    try:
        job = await w.h.start_job("fox [sim:seconds=5]")
        done = await w.h.wait_state(job.id, S.SUCCEEDED)
    finally:
        await poller.stop()
    assert [c.dropped for c in w.h.sim.callbacks] == [True]
    assert done.polls >= 1


async def test_failure_callback_is_applied_from_the_api_answer(w: Wired) -> None:
    job = await w.h.start_job("fox [sim:fail=CONTENT_MODERATION] [sim:seconds=5]")
    done = await w.h.wait_state(job.id, S.FAILED)
    assert done.failure_reason == "CONTENT_MODERATION"


async def test_healthz(w: Wired) -> None:
    async with w.h.http.get(f"{w.base}/healthz") as resp:
        assert (resp.status, await resp.text()) == (200, "ok")
    async with w.h.http.get(f"{w.base}/maxapi/hooks/abc") as resp:
        assert resp.status == 405


async def test_route_without_a_path_and_stop_frees_the_port(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        receiver = CallbackReceiver(h.jobs, "https://bot.example.com", host="127.0.0.1", port=0)
        await receiver.start()
        port = receiver.bound_port
        async with h.http.post(f"http://127.0.0.1:{port}/sometoken", data=b"{}") as resp:
            assert (resp.status, await resp.text()) == (200, "ok")
        async with h.http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
        await receiver.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            timeout = aiohttp.ClientTimeout(total=1)
            async with h.http.get(f"http://127.0.0.1:{port}/healthz", timeout=timeout):
                pass


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("https://bot.example.com/maxapi", "/maxapi"),
        ("https://bot.example.com/maxapi/", "/maxapi"),
        ("https://bot.example.com/a/b", "/a/b"),
        ("https://x.com", ""),
        ("https://x.com/", ""),
    ],
)
def test_route_prefix(url: str, prefix: str) -> None:
    assert route_prefix(url) == prefix


def test_from_settings_is_off_without_a_public_url() -> None:
    env = {"DISCORD_TOKEN": "t", "MAXAPI_KEY": "k"}
    jobs: Any = object()
    assert CallbackReceiver.from_settings(Settings.from_env(env), jobs) is None
    env |= {"WEBHOOK_PUBLIC_URL": "https://bot.example.com/cb", "WEBHOOK_LISTEN": "127.0.0.1:9"}
    receiver = CallbackReceiver.from_settings(Settings.from_env(env), jobs)
    assert receiver is not None
    assert (receiver.host, receiver.port, receiver.path) == ("127.0.0.1", 9, "/cb/{token}")
    assert receiver.metrics_token is None
    del env["WEBHOOK_LISTEN"]
    receiver = CallbackReceiver.from_settings(Settings.from_env(env | {"METRICS_TOKEN": "m"}), jobs)
    assert receiver is not None
    assert (receiver.host, receiver.port) == ("127.0.0.1", 8080), "loopback unless told"
    assert receiver.metrics_token == Secret("m")


async def test_submit_sends_a_fresh_token_per_job(w: Wired) -> None:
    first = await w.h.start_job("fox [sim:hold]")
    second = await w.h.start_job("fox [sim:hold]")
    assert first.callback_token and second.callback_token
    assert first.callback_token != second.callback_token
    assert len(first.callback_token) >= 32
    # The receiver's shape check lets every real token through.
    assert maxapi.is_callback_token(first.callback_token)
    assert maxapi.is_callback_token(second.callback_token)


def count_lookups(w: Wired, gate: asyncio.Event | None = None) -> list[str]:
    """Record each task id the receiver looks up in the store (held at ``gate``)."""
    seen: list[str] = []
    real = w.h.store.by_task_id

    async def by_task_id(task_id: str) -> Job | None:
        seen.append(task_id)
        if gate is not None:
            await gate.wait()
        return await real(task_id)

    w.h.store.by_task_id = by_task_id  # type: ignore[method-assign]
    return seen


async def test_a_malformed_token_never_reaches_the_store(w: Wired) -> None:
    job = await w.h.start_job("fox [sim:hold]")
    token = job.callback_token or ""
    lookups = count_lookups(w)
    for forged in [token[:-1], token + "a", token[:-1] + ".", token[:-1] + "%C3%A9", "a" * 500]:
        assert await w.post(f"/maxapi/hooks/{forged}", callback_body(job)) == (200, "ok")
    await w.receiver.wait_idle()
    assert lookups == []
    values = parse((await w.receiver.metrics.exposition()).decode())
    assert values['atelier_callbacks_total{outcome="malformed"}'] == 5
    # A well-shaped wrong token is looked up (and refused: nobody asks Max API).
    assert await w.post(f"/maxapi/hooks/{token[:-1]}x", callback_body(job)) == (200, "ok")
    await w.receiver.wait_idle()
    assert lookups[0] == job.task_id
    # Only a genuine callback from the simulator (a later lookup) may lead to a query.
    assert len(w.h.sim.queries_for(job.task_id or "")) <= len(lookups) - 1


async def test_a_forged_burst_keeps_the_queue_short_and_logs_once(
    w: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    gate = asyncio.Event()  # the store is slow: nothing leaves the queue during the burst
    lookups = count_lookups(w, gate)
    burst = 5_000
    limit = asyncio.Semaphore(64)

    async def forge(i: int) -> tuple[int, str]:
        async with limit:
            body = {"data": {"taskId": f"forged-{i}", "status": "SUCCESS"}}
            return await w.post(f"/maxapi/hooks/{secrets.token_urlsafe(24)}", body)

    with caplog.at_level(logging.INFO, logger="bot.services.webhook"):
        answers = await asyncio.gather(*(forge(i) for i in range(burst)))
        assert set(answers) == {(200, "ok")}
        assert w.receiver.pending == MAX_PENDING <= 1_000
        gate.set()
        await w.receiver.wait_idle()
    assert len(lookups) == MAX_PENDING
    values = parse((await w.receiver.metrics.exposition()).decode())
    assert values['atelier_callbacks_total{outcome="accepted"}'] == MAX_PENDING
    assert values['atelier_callbacks_total{outcome="dropped"}'] == burst - MAX_PENDING
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.services.webhook"]
    assert len(lines) == 1 and "dropped 1 callback(s)" in lines[0], lines


async def test_metrics_are_not_on_the_callback_port_without_the_token(w: Wired) -> None:
    async with w.h.http.get(f"{w.base}/metrics") as resp:
        assert resp.status == 404
        assert "atelier" not in await resp.text()


async def test_metrics_on_the_callback_port_need_the_bearer_token(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        receiver = CallbackReceiver(
            h.jobs, "http://x/cb", host="127.0.0.1", port=0, metrics_token=Secret("s3cret")
        )
        await receiver.start()
        url = f"http://127.0.0.1:{receiver.bound_port}/metrics"
        try:
            for headers in ({}, {"Authorization": "Bearer s3cre"}, {"Authorization": "s3cret"}):
                async with h.http.get(url, headers=headers) as resp:
                    assert resp.status == 404, headers
            async with h.http.get(url, headers={"Authorization": "Bearer s3cret"}) as resp:
                assert resp.status == 200
                assert parse(await resp.text())["atelier_up"] == 1
        finally:
            await receiver.stop()
