"""Delivery end to end: a real discord.py bot posts finished jobs into the local
Discord, and the test reads the messages (and their bytes) back from the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from bot.discord_io.delivery import Deliverer, DeliveryConfig
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.store import Store
from bot.text.delivery_plan import parse_marker
from simulator import Simulator, SimulatorConfig
from tests.discord_world import Channel, Message, World
from tests.helpers.delivery import (
    JPEG_MAGIC,
    MP4_HEAD,
    PNG_MAGIC,
    ResultServer,
    media_bytes,
    succeeded_job,
)

SEND = "POST /channels/{channel_id}/messages"


@pytest.fixture
async def make_deliverer(
    world: World, bot: Any, store: Store, tmp_path: Path
) -> AsyncIterator[Callable[..., Deliverer]]:
    """``make_deliverer(**config)``: a Deliverer on the running bot; each one stands for
    a bot process (a second one is "after a restart"). Discord's rate limits are on."""
    world.rate_limits.enabled = True
    made: list[Deliverer] = []
    async with aiohttp.ClientSession() as session:

        def make(**overrides: Any) -> Deliverer:
            workdir = tmp_path / "work"
            workdir.mkdir(exist_ok=True)
            config = DeliveryConfig(
                allowed_hosts=frozenset({"127.0.0.1"}),
                temp_dir=workdir,
                backoff_base=0.05,
                backoff_cap=0.2,
                **overrides,
            )
            deliverer = Deliverer(bot, store, session, config)
            made.append(deliverer)
            return deliverer

        yield make
        for deliverer in made:
            await deliverer.close()
    workdir = tmp_path / "work"
    assert not workdir.exists() or list(workdir.iterdir()) == []  # temp files removed


def job_messages(world: World, channel: Channel, job: Job) -> list[Message]:
    """The channel's messages that say they belong to ``job``."""
    return [
        m
        for m in world.messages(channel)
        if (found := parse_marker(m.content)) is not None and found[0] == job.id
    ]


async def new_job(
    store: Store, world: World, urls: list[str], channel: Channel | None = None
) -> Job:
    return await succeeded_job(
        store,
        urls,
        channel_id=(channel or world.channel).id,
        user_id=world.member.user.id,
        guild_id=world.guild.id,
    )


async def wait_state(store: Store, job: Job, state: JobState, limit: float = 20.0) -> Job:
    """Poll the store (it has no change notification) until the job reaches ``state``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        current = await store.get(job.id)
        if current is not None and current.state == state:
            return current
        assert loop.time() < deadline, f"job {job.id} stuck: {current}"
        await asyncio.sleep(0.02)


async def test_posted_once_with_exact_bytes(
    world: World, store: Store, files: ResultServer, make_deliverer: Callable[..., Deliverer]
) -> None:
    data = [media_bytes(PNG_MAGIC, 150_000), media_bytes(JPEG_MAGIC, 90_000)]
    urls = [files.add(f"task/out{i}.bin?sig=x", d) for i, d in enumerate(data)]
    job = await new_job(store, world, urls)
    deliverer = make_deliverer()
    done = await deliverer.deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    (message,) = job_messages(world, world.channel, job)
    assert done.result_message_ids == [message.id]
    assert [f.data for f in message.files] == data  # the exact bytes, read back
    assert [f.filename for f in message.files] == [
        f"atelier-{job.id}-1.png",
        f"atelier-{job.id}-2.jpg",
    ]
    member = world.member.user.id
    assert message.content.startswith(f"<@{member}> a lighthouse at dusk")
    assert message.allowed_mentions == {"parse": [], "users": [member]}
    assert message.nonce == f"{done.delivery_nonce}-0" and message.enforce_nonce
    assert message.kind == "channel"  # a channel message, not an interaction followup
    assert (await deliverer.deliver(job)) is not None
    assert len(world.requests_to(SEND)) == 1  # delivering again posts nothing


async def test_eleven_images_make_two_messages(
    world: World, store: Store, files: ResultServer, make_deliverer: Callable[..., Deliverer]
) -> None:
    data = [media_bytes(PNG_MAGIC, 2000 + i) for i in range(11)]
    job = await new_job(store, world, [files.add(f"i{i}.png", d) for i, d in enumerate(data)])
    done = await make_deliverer().deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    first, second = job_messages(world, world.channel, job)
    assert [f.data for f in first.files] == data[:10]
    assert [f.data for f in second.files] == data[10:]
    assert done.result_message_ids == [first.id, second.id]
    assert first.content.endswith("part 1/2") and second.content.endswith("part 2/2")


async def test_file_over_the_guild_limit_becomes_a_link(
    world: World,
    bot: Any,
    store: Store,
    files: ResultServer,
    make_deliverer: Callable[..., Deliverer],
) -> None:
    limit = bot.get_guild(world.guild.id).filesize_limit
    big = files.add("big.mp4", media_bytes(MP4_HEAD, limit + 1))
    small_data = media_bytes(PNG_MAGIC, 4000)
    job = await new_job(store, world, [big, files.add("small.png", small_data)])
    done = await make_deliverer().deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    (message,) = job_messages(world, world.channel, job)
    assert [f.data for f in message.files] == [small_data]
    assert big in message.content
    assert f"<t:{int(job.result_expires_at or 0)}:R>" in message.content


async def test_40005_turns_the_file_into_a_link(
    world: World, store: Store, files: ResultServer, make_deliverer: Callable[..., Deliverer]
) -> None:
    url = files.add("a.png", media_bytes(PNG_MAGIC, 50_000))
    job = await new_job(store, world, [url])
    fault = world.faults.next(route=SEND, code=40005)
    done = await make_deliverer().deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    assert fault.hits == 1
    (message,) = job_messages(world, world.channel, job)
    assert message.files == []
    assert url in message.content and "too large for this channel" in message.content


async def test_upload_limit_lower_than_discord_py_thinks(
    world: World, store: Store, files: ResultServer, make_deliverer: Callable[..., Deliverer]
) -> None:
    """The server's limit wins over the cached guild's (413 on the real upload)."""
    world.set_upload_limit(20_000)
    small, big = media_bytes(PNG_MAGIC, 10_000), media_bytes(PNG_MAGIC, 30_000)
    job = await new_job(store, world, [files.add("s.png", small), files.add("b.png", big)])
    done = await make_deliverer().deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    (message,) = job_messages(world, world.channel, job)
    assert [f.data for f in message.files] == [small]


async def test_missing_permissions_is_undeliverable(
    world: World, store: Store, files: ResultServer, make_deliverer: Callable[..., Deliverer]
) -> None:
    world.set_bot_deny(world.art_channel, discord.Permissions(attach_files=True).value)
    job = await new_job(
        store, world, [files.add("a.png", media_bytes(PNG_MAGIC, 100))], channel=world.art_channel
    )
    await world.settle()  # the bot's cache has heard of the change
    done = await make_deliverer().deliver(job)
    assert done is not None and done.state == JobState.UNDELIVERABLE
    assert done.failure_reason == "MISSING_PERMISSIONS"
    assert done.failure_message
    assert job_messages(world, world.art_channel, job) == []
    assert len(world.requests_to(SEND)) == 1  # refused once, never retried in a loop


async def test_deleted_channel_is_undeliverable(
    world: World, store: Store, files: ResultServer, make_deliverer: Callable[..., Deliverer]
) -> None:
    gone = world.add_channel("soon-gone")
    job = await new_job(
        store, world, [files.add("a.png", media_bytes(PNG_MAGIC, 100))], channel=gone
    )
    world.delete_channel(gone)
    await world.settle()
    done = await make_deliverer().deliver(job)
    assert done is not None and done.state == JobState.UNDELIVERABLE
    assert done.failure_reason == "UNKNOWN_CHANNEL"
    assert files.hits["/a.png"] == 0


@pytest.mark.parametrize(
    "fault",
    [{"status": 503}, {"status": 429, "retry_after": 0.05}, {"status": 502}],
    ids=["503", "429", "502"],
)
async def test_transient_errors_are_retried_and_post_once(
    fault: dict[str, Any],
    world: World,
    store: Store,
    files: ResultServer,
    make_deliverer: Callable[..., Deliverer],
) -> None:
    data = media_bytes(PNG_MAGIC, 5000)
    job = await new_job(store, world, [files.add("a.png", data)])
    scripted = world.faults.next(route=SEND, **fault)
    deliverer = make_deliverer()
    deliverer.start()
    deliverer.wake()
    done = await wait_state(store, job, JobState.DELIVERED)
    assert scripted.hits == 1
    (message,) = job_messages(world, world.channel, job)
    assert [f.data for f in message.files] == [data]
    assert done.result_message_ids == [message.id]


async def test_lost_response_is_not_posted_twice(
    world: World, store: Store, files: ResultServer, make_deliverer: Callable[..., Deliverer]
) -> None:
    """Discord posted the message but the answer got lost (a 503 after the fact):
    the retry's nonce makes Discord return the earlier message."""
    job = await new_job(store, world, [files.add("a.png", media_bytes(PNG_MAGIC, 5000))])
    world.faults.next(route=SEND, status=503, commit=True)
    deliverer = make_deliverer()
    first = await deliverer.deliver(job)
    assert first is not None and first.state == JobState.DELIVERING
    assert len(job_messages(world, world.channel, job)) == 1  # it did land
    done = await deliverer.deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    (message,) = job_messages(world, world.channel, job)
    assert done.result_message_ids == [message.id]


class Crash(Exception):
    """The process dies right after posting, before recording the message id."""


class CrashingStore:
    """Passes everything through to the store, but "crashes" once, when about to record
    the id of message number ``at`` (1-based)."""

    def __init__(self, inner: Store, at: int = 1) -> None:
        self.inner = inner
        self.at = at
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def update_fenced(self, job_id: int, fence: int, **values: Any) -> Job | None:
        ids = values.get("result_message_ids")
        if ids is not None and len(ids) == self.at and not self.crashed:
            self.crashed = True
            raise Crash
        return await self.inner.update_fenced(job_id, fence, **values)


async def crash_while_delivering(
    bot: Any, store: Store, job: Job, workdir: Path, at: int = 1
) -> None:
    """One bot "process" that dies after posting message ``at`` of ``job``."""
    async with aiohttp.ClientSession() as session:
        config = DeliveryConfig(allowed_hosts=frozenset({"127.0.0.1"}), temp_dir=workdir)
        doomed = Deliverer(bot, CrashingStore(store, at), session, config)  # type: ignore[arg-type]
        with pytest.raises(Crash):
            await doomed.deliver(job)


@pytest.mark.parametrize(
    ("outage", "can_read_history"),
    [(0.0, False), (3600.0, True)],
    ids=["soon-after-by-nonce", "after-an-hour-by-history"],
)
async def test_crash_between_posting_and_recording_posts_once(
    outage: float,
    can_read_history: bool,
    world: World,
    bot: Any,
    store: Store,
    files: ResultServer,
    make_deliverer: Callable[..., Deliverer],
    tmp_path: Path,
) -> None:
    """Soon after, Discord drops the repeat by nonce (even when the bot cannot read the
    history); after the nonce window the bot finds its earlier post in the history."""
    if not can_read_history:
        world.set_bot_deny(world.channel, discord.Permissions(read_message_history=True).value)
        await world.settle()
    data = media_bytes(PNG_MAGIC, 5000)
    job = await new_job(store, world, [files.add("a.png", data)])
    await crash_while_delivering(bot, store, job, tmp_path)
    crashed = await store.get(job.id)
    assert crashed is not None
    assert crashed.state == JobState.DELIVERING and crashed.result_message_ids == []
    (posted,) = job_messages(world, world.channel, job)

    world.clock.advance(outage)  # past the nonce window or not
    done = await make_deliverer().deliver(job)  # "after the restart"
    assert done is not None and done.state == JobState.DELIVERED
    assert job_messages(world, world.channel, job) == [posted]
    assert done.result_message_ids == [posted.id]
    sends = len(world.requests_to(SEND))
    assert sends == (1 if can_read_history else 2)  # found in history, or deduped by nonce


async def test_crash_after_first_of_two_parts(
    world: World,
    bot: Any,
    store: Store,
    files: ResultServer,
    make_deliverer: Callable[..., Deliverer],
    tmp_path: Path,
) -> None:
    """Part 1 recorded, part 2 posted but not recorded, long outage: each part once."""
    data = [media_bytes(PNG_MAGIC, 1000 + i) for i in range(12)]
    job = await new_job(store, world, [files.add(f"p{i}.png", d) for i, d in enumerate(data)])
    await crash_while_delivering(bot, store, job, tmp_path, at=2)
    assert len(job_messages(world, world.channel, job)) == 2
    crashed = await store.get(job.id)
    assert crashed is not None and len(crashed.result_message_ids) == 1
    world.clock.advance(3600)
    done = await make_deliverer().deliver(job)
    assert done is not None and done.state == JobState.DELIVERED
    first, second = job_messages(world, world.channel, job)
    assert done.result_message_ids == [first.id, second.id]
    assert [f.data for f in first.files] + [f.data for f in second.files] == data


async def test_expired_result_is_not_posted(
    world: World, store: Store, files: ResultServer, make_deliverer: Callable[..., Deliverer]
) -> None:
    url = files.add("a.png", media_bytes(PNG_MAGIC, 100))
    job = await succeeded_job(store, [url], channel_id=world.channel.id, expires_in=-60)
    done = await make_deliverer().deliver(job)
    assert done is not None and done.state == JobState.EXPIRED
    assert job_messages(world, world.channel, job) == []
    assert world.requests_to(SEND) == []


# -- with the Max API simulator serving the result files -----------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(SimulatorConfig(speed=0.001, default_image_count=2)) as simulator:
        yield simulator


async def finished_task_urls(sim: Simulator, model: str, **params: Any) -> list[str]:
    """Submit to the simulator like the bot would and wait for its result URLs."""
    headers = {"Authorization": "Bearer sim-key"}
    async with aiohttp.ClientSession(base_url=sim.base_url, headers=headers) as http:
        body = {"model": model, "input": params}
        async with http.post("/api/v1/task/submit", json=body) as response:
            task_id = (await response.json())["data"]["taskId"]
        await sim.wait_for(lambda: sim.status_of(task_id) == "SUCCESS", within=10)
        async with http.get(f"/api/v1/task/{task_id}") as response:
            return list((await response.json())["data"]["result"]["urls"])


async def served_bytes(url: str) -> bytes:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.read()


async def test_simulator_images_and_video_are_posted_byte_for_byte(
    world: World, store: Store, sim: Simulator, make_deliverer: Callable[..., Deliverer]
) -> None:
    images = await finished_task_urls(sim, "nano-banana", prompt="a kite over the dunes")
    video = await finished_task_urls(sim, "grok-imagine/text-to-video", prompt="a train")
    deliverer = make_deliverer()
    for urls, extension in ((images, ".png"), (video, ".mp4")):
        job = await new_job(store, world, urls)
        done = await deliverer.deliver(job)
        assert done is not None and done.state == JobState.DELIVERED
        (message,) = job_messages(world, world.channel, job)
        assert [f.data for f in message.files] == [await served_bytes(u) for u in urls]
        assert all(f.filename.endswith(extension) for f in message.files)
    assert len(images) == 2


async def test_simulator_links_past_expiry_end_the_job(
    world: World, store: Store, sim: Simulator, make_deliverer: Callable[..., Deliverer]
) -> None:
    """Max API answers 403 once its links expire: nothing to post, the job expires."""
    urls = await finished_task_urls(sim, "nano-banana", prompt="a kite")
    job = await new_job(store, world, urls)
    sim.clock.advance(8 * 24 * 3600)
    done = await make_deliverer().deliver(job)
    assert done is not None and done.state == JobState.EXPIRED
    assert done.failure_reason == "RESULT_GONE"
    assert job_messages(world, world.channel, job) == []
