"""bot.discord_io.delivery.Deliverer with a tiny fake channel (the real-Discord cases are in
tests/e2e/test_delivery_e2e.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import pytest

from bot.discord_io.delivery import Deliverer, DeliveryConfig
from bot.discord_io.delivery_errors import _Refused, _Retry, classify
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.store import Store
from bot.text.delivery_plan import parse_marker
from tests.helpers.delivery import (
    PNG_MAGIC,
    ResultServer,
    media_bytes,
    succeeded_job,
)

BOT_ID = 999
CHANNEL_ID = 555
_ids = itertools.count(10_000)


def http_error(
    status: int, code: int = 0, cls: type[discord.HTTPException] | None = None
) -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason="test")
    kind = cls or {403: discord.Forbidden, 404: discord.NotFound}.get(
        status, discord.DiscordServerError if status >= 500 else discord.HTTPException
    )
    return kind(response, {"code": code, "message": "scripted"})  # type: ignore[arg-type]


@dataclass
class Sent:
    id: int
    content: str
    files: list[tuple[str, bytes]]
    nonce: str | None
    allowed_mentions: discord.AllowedMentions | None
    author: Any = field(default_factory=lambda: SimpleNamespace(id=BOT_ID))


class FakeChannel:
    """Just enough of a text channel: ``send`` (with scripted errors) and ``history``."""

    def __init__(self, channel_id: int = CHANNEL_ID) -> None:
        self.id = channel_id
        self.guild = None
        self.sent: list[Sent] = []
        self.errors: list[BaseException] = []
        self.history_calls = 0

    async def send(self, **kwargs: Any) -> Sent:
        if self.errors:
            raise self.errors.pop(0)
        files = [(f.filename, f.fp.read()) for f in kwargs.get("files") or []]
        message = Sent(
            next(_ids),
            kwargs["content"],
            files,
            kwargs.get("nonce"),
            kwargs.get("allowed_mentions"),
        )
        self.sent.append(message)
        return message

    async def history(self, **kwargs: Any) -> AsyncIterator[Sent]:
        self.history_calls += 1
        for message in list(self.sent):
            yield message


class FakeClient:
    def __init__(self, *channels: FakeChannel) -> None:
        self.channels = {c.id: c for c in channels}
        self.user = SimpleNamespace(id=BOT_ID)

    def get_channel(self, channel_id: int) -> FakeChannel | None:
        return self.channels.get(channel_id)

    async def fetch_channel(self, channel_id: int) -> FakeChannel:
        raise http_error(404, 10003)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def channel() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
def notified() -> list[tuple[int, JobState]]:
    return []


@pytest.fixture
def deliverer(
    store: Store,
    session: aiohttp.ClientSession,
    channel: FakeChannel,
    workdir: Path,
    notified: list[tuple[int, JobState]],
) -> Deliverer:
    async def notify(job: Job) -> None:
        notified.append((job.id, job.state))

    config = DeliveryConfig(
        allowed_hosts=frozenset({"127.0.0.1"}),
        temp_dir=workdir,
        backoff_base=0.05,
        backoff_cap=0.2,
        download_retries=2,
    )
    return Deliverer(
        FakeClient(channel),
        store,
        session,
        config,  # type: ignore[arg-type]
        notify=notify,
    )


async def until(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


async def test_delivers_once_with_exact_bytes(
    deliverer: Deliverer,
    store: Store,
    files: ResultServer,
    channel: FakeChannel,
    workdir: Path,
    notified: list[tuple[int, JobState]],
) -> None:
    data = [media_bytes(PNG_MAGIC, 5000), media_bytes(PNG_MAGIC, 7000)]
    urls = [files.add(f"r{i}.png", d) for i, d in enumerate(data)]
    job = await succeeded_job(store, urls, channel_id=CHANNEL_ID, user_id=77)
    done = await deliverer.deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    (message,) = channel.sent
    assert done.result_message_ids == [message.id]
    assert [b for _, b in message.files] == data
    assert [n for n, _ in message.files] == [f"atelier-{job.id}-1.png", f"atelier-{job.id}-2.png"]
    assert message.content.startswith("<@77> a lighthouse at dusk")
    assert parse_marker(message.content) == (job.id, 0, 1)
    assert message.nonce == f"{done.delivery_nonce}-0"
    assert message.allowed_mentions is not None
    assert message.allowed_mentions.to_dict() == {"parse": [], "users": [77]}
    assert done.delivery_attempts == 1
    assert notified == [(job.id, JobState.DELIVERING), (job.id, JobState.DELIVERED)]
    assert listing(workdir) == []  # temporary files removed
    again = await deliverer.deliver(job)  # a second call is a no-op
    assert again is not None and again.state == JobState.DELIVERED
    assert len(channel.sent) == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (http_error(403, 50013), ("refused", "MISSING_PERMISSIONS")),
        (http_error(403, 50001), ("refused", "MISSING_ACCESS")),
        (http_error(404, 10003), ("refused", "UNKNOWN_CHANNEL")),
        (http_error(400, 50035), ("refused", "DISCORD_REFUSED")),
        (http_error(500), ("retry", None)),
        (http_error(503), ("retry", None)),
        (http_error(429), ("retry", None)),
        (discord.RateLimited(12.0), ("retry", 12.0)),
        (TimeoutError(), ("retry", None)),
        (aiohttp.ServerDisconnectedError(), ("retry", None)),
        (ConnectionResetError(), ("retry", None)),
    ],
)
def test_classify(error: BaseException, expected: tuple[str, object]) -> None:
    outcome = classify(error)
    if expected[0] == "refused":
        assert isinstance(outcome, _Refused) and outcome.code == expected[1]
    else:
        assert isinstance(outcome, _Retry) and outcome.retry_after == expected[1]


def test_backoff_grows_with_jitter_and_respects_retry_after(store: Store) -> None:
    config = DeliveryConfig(backoff_base=10, backoff_cap=100)
    low = Deliverer(None, store, None, config, rng=lambda: 0.0)  # type: ignore[arg-type]
    high = Deliverer(None, store, None, config, rng=lambda: 1.0)  # type: ignore[arg-type]
    assert [low.backoff(n) for n in (1, 2, 3, 5, 9)] == [5, 10, 20, 50, 50]
    assert [high.backoff(n) for n in (1, 2, 3, 5, 9)] == [10, 20, 40, 100, 100]
    assert low.backoff(1, retry_after=30) == 30


async def test_transient_error_backs_off_then_delivers_once(
    deliverer: Deliverer, store: Store, files: ResultServer, channel: FakeChannel
) -> None:
    url = files.add("a.png", media_bytes(PNG_MAGIC, 3000))
    job = await succeeded_job(store, [url], channel_id=CHANNEL_ID)
    channel.errors.append(http_error(503))
    first = await deliverer.deliver(job)
    assert first is not None and first.state == JobState.DELIVERING
    assert first.next_delivery_at is not None and first.next_delivery_at > store.clock()
    assert first.result_message_ids == [] and channel.sent == []
    second = await deliverer.deliver(job)
    assert second is not None and second.state == JobState.DELIVERED
    assert len(channel.sent) == 1
    assert second.delivery_attempts == 2
    assert channel.history_calls == 1  # the retry searched the history first
    assert second.next_delivery_at is None


async def test_too_large_for_discord_becomes_a_link(
    deliverer: Deliverer, store: Store, files: ResultServer, channel: FakeChannel
) -> None:
    small, big = media_bytes(PNG_MAGIC, 1000), media_bytes(PNG_MAGIC, 9000)
    urls = [files.add("small.png", small), files.add("big.png", big)]
    job = await succeeded_job(store, urls, channel_id=CHANNEL_ID)
    channel.errors.append(http_error(413, 40005))
    done = await deliverer.deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    (message,) = channel.sent
    assert [b for _, b in message.files] == [small]  # the larger one was linked
    assert urls[1] in message.content and "too large for this channel" in message.content


async def test_forbidden_is_undeliverable_with_reason(
    deliverer: Deliverer,
    store: Store,
    files: ResultServer,
    channel: FakeChannel,
    notified: list[tuple[int, JobState]],
) -> None:
    job = await succeeded_job(
        store, [files.add("a.png", media_bytes(PNG_MAGIC, 100))], channel_id=CHANNEL_ID
    )
    channel.errors.append(http_error(403, 50013))
    done = await deliverer.deliver(job)
    assert done is not None and done.state == JobState.UNDELIVERABLE
    assert done.failure_reason == "MISSING_PERMISSIONS"
    assert done.failure_message and "permission" in done.failure_message
    assert notified[-1] == (job.id, JobState.UNDELIVERABLE)
    assert done.next_delivery_at is None


async def test_unknown_channel_is_undeliverable(
    deliverer: Deliverer, store: Store, files: ResultServer
) -> None:
    job = await succeeded_job(
        store, [files.add("a.png", media_bytes(PNG_MAGIC, 100))], channel_id=CHANNEL_ID + 1
    )  # not cached; fetch says 10003
    done = await deliverer.deliver(job)
    assert done is not None and done.state == JobState.UNDELIVERABLE
    assert done.failure_reason == "UNKNOWN_CHANNEL"
    assert files.hits["/a.png"] == 0  # nothing downloaded for a channel that is gone


async def test_expired_links_are_not_fetched(
    deliverer: Deliverer, store: Store, files: ResultServer, channel: FakeChannel
) -> None:
    url = files.add("a.png", media_bytes(PNG_MAGIC, 100))
    job = await succeeded_job(store, [url], channel_id=CHANNEL_ID, expires_in=-1)
    done = await deliverer.deliver(job)
    assert done is not None and done.state == JobState.EXPIRED
    assert done.failure_reason == "RESULT_EXPIRED"
    assert files.hits["/a.png"] == 0 and channel.sent == []


async def test_all_results_gone_means_expired(
    deliverer: Deliverer, store: Store, files: ResultServer, channel: FakeChannel
) -> None:
    job = await succeeded_job(store, [files.url("missing.png")], channel_id=CHANNEL_ID)
    done = await deliverer.deliver(job)
    assert done is not None and done.state == JobState.EXPIRED
    assert done.failure_reason == "RESULT_GONE"
    assert channel.sent == []


async def test_some_results_gone_are_noted(
    deliverer: Deliverer, store: Store, files: ResultServer, channel: FakeChannel
) -> None:
    urls = [files.url("missing.png"), files.add("b.png", media_bytes(PNG_MAGIC, 100))]
    job = await succeeded_job(store, urls, channel_id=CHANNEL_ID)
    done = await deliverer.deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    (message,) = channel.sent
    assert len(message.files) == 1
    assert "Result 1 is no longer available" in message.content


async def test_download_outage_retries_then_links(
    deliverer: Deliverer,
    store: Store,
    files: ResultServer,
    channel: FakeChannel,
    workdir: Path,
) -> None:
    url = files.add("a.png", status=503)
    job = await succeeded_job(store, [url], channel_id=CHANNEL_ID)
    first = await deliverer.deliver(job)
    assert first is not None and first.state == JobState.DELIVERING and channel.sent == []
    done = await deliverer.deliver(job)  # download_retries=2: now give up on the file
    assert done is not None and done.state == JobState.DELIVERED
    (message,) = channel.sent
    assert message.files == [] and url in message.content
    assert files.hits["/a.png"] == 2
    assert listing(workdir) == []


async def test_earlier_post_found_in_history_is_not_repeated(
    deliverer: Deliverer, store: Store, files: ResultServer, channel: FakeChannel
) -> None:
    """The bot posted, then died before recording the message id."""
    url = files.add("a.png", media_bytes(PNG_MAGIC, 100))
    job = await succeeded_job(store, [url], channel_id=CHANNEL_ID)
    channel.errors.append(TimeoutError())  # first attempt: the post "timed out"...
    first = await deliverer.deliver(job)
    assert first is not None and first.state == JobState.DELIVERING
    earlier = Sent(next(_ids), f"<@1234> a lighthouse\n-# job #{job.id}", [], None, None)
    channel.sent.append(earlier)  # ...but had in fact been posted
    done = await deliverer.deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    assert done.result_message_ids == [earlier.id]
    assert channel.sent == [earlier]


async def test_loop_delivers_on_wake_and_survives_a_failing_job(
    store: Store, session: aiohttp.ClientSession, files: ResultServer, workdir: Path
) -> None:
    good = FakeChannel(1)
    broken = FakeChannel(2)
    broken.errors.extend(RuntimeError("a bug in one job") for _ in range(3))
    config = DeliveryConfig(allowed_hosts=frozenset({"127.0.0.1"}), temp_dir=workdir, lease=60)
    deliverer = Deliverer(FakeClient(good, broken), store, session, config)  # type: ignore[arg-type]
    deliverer.start()
    try:
        url = files.add("a.png", media_bytes(PNG_MAGIC, 100))
        bad_job = await succeeded_job(store, [url], channel_id=2)
        deliverer.wake()
        await until(lambda: len(broken.errors) == 2)  # the bad job's attempt blew up
        good_job = await succeeded_job(store, [url], channel_id=1)
        deliverer.wake()
        await until(lambda: len(good.sent) == 1)
        current = await store.get(good_job.id)
        for _ in range(100):
            current = await store.get(good_job.id)
            if current is not None and current.state == JobState.DELIVERED:
                break
            await asyncio.sleep(0.02)
        assert current is not None and current.state == JobState.DELIVERED
        stuck = await store.get(bad_job.id)
        assert stuck is not None and stuck.state == JobState.DELIVERING  # retried after lease
        assert stuck.next_delivery_at is not None and stuck.next_delivery_at > store.clock()
    finally:
        await deliverer.close()
    assert listing(workdir) == []
