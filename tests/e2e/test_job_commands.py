"""``/jobs``, ``/cancel job`` and ``/show job`` through real discord.py, the local Discord,
the Max API simulator and the whole :class:`~bot.runtime.Runtime`: what members and
moderators see, what each may do, and that every answer comes inside Discord's window."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import discord
import pytest

from bot.domain.catalog import GenerationRequest
from bot.domain.job import Job
from bot.domain.job_states import JobState
from bot.runtime import Runtime
from bot.services.job_messages import CHARGED_CANCEL_ANSWERS
from bot.services.jobs import Requester
from bot.store import Store
from simulator import Simulator
from tests.discord_world import Channel, Member, Message, World
from tests.e2e.support import answer, card, job_id_of, job_when
from tests.helpers.jobs import lift_limits

S = JobState
MODEL = "nano-banana-2"


@pytest.fixture(autouse=True)
async def _no_limits(world: World, runtime: Runtime) -> None:
    """No limits in the test guild: these tests are not about limits."""
    await lift_limits(store_of(runtime), world.guild.id)


def store_of(runtime: Runtime) -> Store:
    assert runtime.store is not None
    return runtime.store


async def state_of(runtime: Runtime, job_id: int) -> JobState:
    job = await store_of(runtime).get(job_id)
    assert job is not None
    return job.state


async def accept(
    runtime: Runtime,
    world: World,
    prompt: str,
    *,
    user: Member | None = None,
    submit: bool = True,
    channel: Channel | None = None,
) -> Job:
    """A job accepted as the commands accept it, in ``channel`` (#general by default)."""
    assert runtime.jobs is not None
    who = user or world.member
    where = channel or world.channel
    requester = Requester(
        guild_id=world.guild.id, channel_id=where.id, user_id=who.id, age_restricted=where.nsfw
    )
    job = await runtime.jobs.accept(GenerationRequest(MODEL, prompt, {}), requester)
    if submit:
        runtime.jobs.submit_soon(job)
    return job


async def until(runtime: Runtime, job_id: int, ok: Callable[[Job], bool]) -> Job:
    return await job_when(store_of(runtime), job_id, ok, within=15)


async def held(
    runtime: Runtime,
    world: World,
    prompt: str,
    user: Member | None = None,
    channel: Channel | None = None,
) -> Job:
    """A job running upstream that the simulator keeps running until it is cancelled."""
    job = await accept(runtime, world, f"{prompt} [sim:hold]", user=user, channel=channel)
    return await until(runtime, job.id, lambda j: j.task_id is not None and j.state == S.RUNNING)


async def delivered(
    runtime: Runtime,
    world: World,
    prompt: str,
    user: Member | None = None,
    channel: Channel | None = None,
) -> Job:
    job = await accept(runtime, world, prompt, user=user, channel=channel)
    return await until(runtime, job.id, lambda j: j.state.is_terminal)


async def fetch(url: str) -> bytes:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.read()


# -- /jobs ------------------------------------------------------------------------------


async def test_jobs_when_there_are_none_says_how_to_start(world: World, runtime: Runtime) -> None:
    ix = await world.slash("jobs")
    message = await answer(ix)
    assert message.ephemeral
    assert "/imagine" in message.embed_text()
    assert message.custom_ids() == []


async def test_jobs_lists_newest_first_with_a_cancel_button(world: World, runtime: Runtime) -> None:
    done = await delivered(runtime, world, "a finished fox")
    assert done.state == S.DELIVERED
    running = await held(runtime, world, "a slow owl")
    await accept(runtime, world, "someone else's", user=world.moderator, submit=False)
    ix = await world.slash("jobs")
    message = await answer(ix)
    assert message.ephemeral
    text = message.embed_text()
    assert text.index(f"#{running.id}") < text.index(f"#{done.id}")
    assert "a slow owl" in text and "running" in text and MODEL in text
    assert "someone else's" not in text
    assert "Page 1 of 1" in text
    assert message.custom_ids() == [f"atelier:cancel:{running.id}"]
    assert message.component(f"atelier:cancel:{running.id}")["label"] == f"Cancel #{running.id}"


async def test_jobs_pages_cancel_buttons_ten_at_a_time(world: World, runtime: Runtime) -> None:
    jobs = [await accept(runtime, world, f"job {i}", submit=False) for i in range(12)]
    message = await answer(await world.slash("jobs"))
    ids = message.custom_ids()
    assert ids[0] == f"atelier:cancel:{jobs[-1].id}"  # newest first
    assert ids[:10] == [f"atelier:cancel:{job.id}" for job in reversed(jobs[2:])]
    assert ids[10:] == ["atelier:history:prev:1", "atelier:history:next:2"]
    assert len(message.components) == 3  # two rows of Cancel, then Previous and Next


# -- /cancel job ------------------------------------------------------------------------


async def test_cancel_autocomplete_offers_the_callers_active_jobs(
    world: World, runtime: Runtime
) -> None:
    mine = await held(runtime, world, "my owl")
    queued = await accept(runtime, world, "my cat", submit=False)
    theirs = await accept(runtime, world, "their heron", user=world.moderator, submit=False)
    finished = await delivered(runtime, world, "my finished fox")

    choices = await (await world.autocomplete("cancel", {"job": ""}, focused="job")).choices()
    assert [c["value"] for c in choices] == [queued.id, mine.id]
    assert choices[1]["name"].startswith(f"#{mine.id} · running · {MODEL}")
    assert finished.id not in [c["value"] for c in choices]

    typed = await world.autocomplete("cancel", {"job": "owl"}, focused="job")
    assert [c["value"] for c in await typed.choices()] == [mine.id]

    as_moderator = await world.autocomplete(
        "cancel", {"job": ""}, focused="job", user=world.moderator
    )
    offered = [c["value"] for c in await as_moderator.choices()]
    assert offered == [theirs.id, queued.id, mine.id]


async def test_a_member_cancels_their_own_job(
    world: World, runtime: Runtime, sim: Simulator
) -> None:
    job = await held(runtime, world, "a slow owl")
    ix = await world.slash("cancel", {"job": job.id})
    callback = await ix.wait_response()
    assert callback.type == 5 and callback.ephemeral
    message = await answer(ix)
    assert "Cancelled" in message.content
    assert message.ephemeral
    assert (await until(runtime, job.id, lambda j: j.state.is_terminal)).state == S.CANCELLED
    assert job.task_id is not None and len(sim.cancels_for(job.task_id)) == 1


async def test_a_member_cannot_cancel_someone_elses_job_but_a_moderator_can(
    world: World, runtime: Runtime
) -> None:
    job = await held(runtime, world, "the owner's owl", user=world.owner)
    refused = await answer(await world.slash("cancel", {"job": job.id}))
    assert "not yours" in refused.embed_text()
    assert refused.ephemeral
    assert await state_of(runtime, job.id) == S.RUNNING

    done = await answer(await world.slash("cancel", {"job": job.id}, user=world.moderator))
    # It was running at Max API, so under the default CANCEL_REFUNDS the cancel is charged.
    assert done.content == (
        f"Cancelled job #{job.id} of <@{world.owner.id}>. "
        "Max API already had it, so it was charged."
    )
    assert (await until(runtime, job.id, lambda j: j.state.is_terminal)).state == S.CANCELLED


async def test_cancel_refuses_unknown_and_finished_jobs(world: World, runtime: Runtime) -> None:
    unknown = await answer(await world.slash("cancel", {"job": 987654}))
    assert "There is no job #987654" in unknown.embed_text()
    done = await delivered(runtime, world, "a finished fox")
    again = await answer(await world.slash("cancel", {"job": done.id}))
    assert "already delivered" in again.content
    assert await state_of(runtime, done.id) == S.DELIVERED


async def test_jobs_of_another_server_are_unknown_even_to_moderators(
    world: World, runtime: Runtime
) -> None:
    other = world.add_guild("Elsewhere")
    await world.wait_for(lambda: runtime.jobs is not None)
    assert runtime.jobs is not None
    elsewhere = Requester(
        guild_id=other.id, channel_id=other.channel_named("general").id, user_id=world.member.id
    )
    job = await runtime.jobs.accept(GenerationRequest(MODEL, "far away", {}), elsewhere)
    reply = await answer(await world.slash("cancel", {"job": job.id}, user=world.moderator))
    assert f"There is no job #{job.id} in this server" in reply.embed_text()
    picked = await world.autocomplete(
        "cancel", {"job": str(job.id)}, focused="job", user=world.moderator
    )
    assert await picked.choices() == []
    assert await state_of(runtime, job.id) == S.ACCEPTED


# -- /show job --------------------------------------------------------------------------


def is_result(job_id: int) -> Callable[[Message], bool]:
    return lambda m: f"job #{job_id}" in m.content and bool(m.files)


async def test_show_posts_a_past_result_again_without_touching_the_job(
    world: World, runtime: Runtime
) -> None:
    job = await delivered(runtime, world, "a lighthouse at dusk")
    assert job.state == S.DELIVERED
    first = await world.wait_for_message(world.channel, is_result(job.id))
    events_before = await store_of(runtime).events(job.id)

    ix = await world.slash("show", {"job": job.id}, channel=world.art_channel)
    callback = await ix.wait_response()
    assert callback.type == 5 and callback.ephemeral  # deferred at once, privately
    confirmation = await answer(ix)
    again = await world.wait_for_message(world.art_channel, is_result(job.id), timeout=20)
    assert again.kind == "channel" and not again.ephemeral
    assert again.files[0].data == first.files[0].data == await fetch(job.result_urls[0])
    assert again.content.startswith(f"-# shown again by <@{world.member.id}>")
    assert again.allowed_mentions is not None
    assert not again.allowed_mentions.get("users") and not again.allowed_mentions.get("parse")
    assert f"/{world.art_channel.id}/{again.id}" in confirmation.content
    # Delete removes only the job's own messages, which a re-post is not: no such button.
    assert f"atelier:reroll:{job.id}" in again.custom_ids()
    assert f"atelier:delete:{job.id}" not in again.custom_ids()

    after = await store_of(runtime).get(job.id)
    assert after is not None and after.state == S.DELIVERED
    assert after.result_message_ids == job.result_message_ids
    assert await store_of(runtime).events(job.id) == events_before


async def test_show_refuses_once_the_links_expired(world: World, runtime: Runtime) -> None:
    job = await delivered(runtime, world, "an old owl")
    # No posted copy to fall back on (that case: tests/e2e/test_expired_links.py).
    await store_of(runtime).update(
        job.id, result_expires_at=time.time() - 60, result_message_ids=[]
    )
    message = await answer(await world.slash("show", {"job": job.id}))
    assert message.ephemeral
    assert "expired on <t:" in message.embed_text()
    await world.settle()
    assert len([m for m in world.messages(world.channel) if is_result(job.id)(m)]) == 1


async def test_show_of_someone_elses_job_is_for_moderators(world: World, runtime: Runtime) -> None:
    job = await delivered(runtime, world, "the owner's heron", user=world.owner)
    refused = await answer(await world.slash("show", {"job": job.id}))
    assert "not yours" in refused.embed_text()

    shown = await answer(await world.slash("show", {"job": job.id}, user=world.moderator))
    assert "Posted job" in shown.content
    again = await world.wait_for_messages(2, world.channel, is_result(job.id))
    assert again[-1].content.startswith(f"-# shown again by <@{world.moderator.id}>")


async def test_show_refuses_jobs_without_a_result(world: World, runtime: Runtime) -> None:
    job = await held(runtime, world, "a slow owl")
    message = await answer(await world.slash("show", {"job": job.id}))
    assert "no result yet" in message.embed_text()
    assert await state_of(runtime, job.id) == S.RUNNING


async def test_show_keeps_age_restricted_results_in_age_restricted_channels(
    world: World, runtime: Runtime
) -> None:
    job = await delivered(runtime, world, "a night scene", channel=world.nsfw_channel)
    refused = await answer(await world.slash("show", {"job": job.id}, channel=world.channel))
    assert "age-restricted" in refused.embed_text()
    await answer(await world.slash("show", {"job": job.id}, channel=world.nsfw_channel))
    await world.wait_for_messages(2, world.nsfw_channel, is_result(job.id))


async def test_show_autocomplete_offers_results_that_can_still_be_shown(
    world: World, runtime: Runtime
) -> None:
    fresh = await delivered(runtime, world, "a fresh fox")
    old = await delivered(runtime, world, "an old owl")
    # Expired and never posted (a posted copy could still be shown).
    await store_of(runtime).update(
        old.id, result_expires_at=time.time() - 60, result_message_ids=[]
    )
    await held(runtime, world, "a slow heron")
    choices = await (await world.autocomplete("show", {"job": ""}, focused="job")).choices()
    assert [c["value"] for c in choices] == [fresh.id]
    assert choices[0]["name"] == f"#{fresh.id} · a fresh fox"


async def test_manage_messages_alone_makes_a_moderator(world: World, runtime: Runtime) -> None:
    helper_role = world.add_role("Helper", discord.Permissions(manage_messages=True).value)
    helper = world.add_member("helper", roles=[helper_role])
    job = await held(runtime, world, "a member's owl")
    offered = await world.autocomplete("cancel", {"job": ""}, focused="job", user=helper)
    assert [c["value"] for c in await offered.choices()] == [job.id]
    done = await answer(await world.slash("cancel", {"job": job.id}, user=helper))
    assert done.content.startswith(f"Cancelled job #{job.id} of <@{world.member.id}>")


async def test_show_says_so_when_the_bot_cannot_post_files_here(
    world: World, runtime: Runtime
) -> None:
    job = await delivered(runtime, world, "a fox")
    world.set_bot_deny(world.art_channel, discord.Permissions(attach_files=True).value)
    message = await answer(await world.slash("show", {"job": job.id}, channel=world.art_channel))
    assert "Attach Files" in message.embed_text()
    assert not [m for m in world.messages(world.art_channel) if m.files]


async def test_the_cancel_button_on_jobs_cancels_the_job(world: World, runtime: Runtime) -> None:
    job = await held(runtime, world, "a slow owl")
    listing = await answer(await world.slash("jobs"))
    click = await world.click(listing, f"atelier:cancel:{job.id}")
    await click.wait_response()
    assert (await until(runtime, job.id, lambda j: j.state.is_terminal)).state == S.CANCELLED


async def test_show_links_a_file_over_the_upload_limit(world: World, runtime: Runtime) -> None:
    job = await delivered(runtime, world, "a big fox")
    world.set_upload_limit(1024)  # the server lost its boosts since the first post
    await answer(await world.slash("show", {"job": job.id}, channel=world.art_channel))
    again = await world.wait_for_message(
        world.art_channel, lambda m: f"job #{job.id}" in m.content, kind="channel"
    )
    assert not again.files
    assert job.result_urls[0] in again.content and "too large" in again.content


# -- age restriction, recorded when the job is accepted ------------------------------------


async def imagined_in(world: World, runtime: Runtime, channel: Channel) -> Job:
    """A job started with ``/imagine`` in ``channel``, once it ended."""
    ix = await world.slash("imagine", {"prompt": "a night scene"}, channel=channel)
    job_id = job_id_of(await card(ix))
    return await until(runtime, job_id, lambda j: j.state.is_terminal)


async def test_jobs_record_whether_their_channel_was_age_restricted(
    world: World, runtime: Runtime
) -> None:
    thread = world.add_thread(world.nsfw_channel, "after dark")
    general = await imagined_in(world, runtime, world.channel)
    nsfw = await imagined_in(world, runtime, world.nsfw_channel)
    threaded = await imagined_in(world, runtime, thread)
    assert threaded.state == S.DELIVERED and threaded.channel_id == thread.id
    assert (general.age_restricted, nsfw.age_restricted, threaded.age_restricted) == (
        False,
        True,
        True,  # a thread is age-restricted when its parent is
    )


async def test_show_keeps_a_deleted_age_restricted_channels_results_restricted(
    world: World, runtime: Runtime
) -> None:
    job = await imagined_in(world, runtime, world.nsfw_channel)
    world.delete_channel(world.nsfw_channel)  # the bot's cache forgets it
    refused = await answer(await world.slash("show", {"job": job.id}, channel=world.channel))
    assert "was made in an age-restricted channel" in refused.embed_text()
    elsewhere = world.add_channel("nsfw-too", nsfw=True)
    await answer(await world.slash("show", {"job": job.id}, channel=elsewhere))
    await world.wait_for_message(elsewhere, is_result(job.id))
    assert not [m for m in world.messages(world.channel) if is_result(job.id)(m)]


async def test_show_keeps_an_archived_age_restricted_threads_results_restricted(
    world: World, runtime: Runtime
) -> None:
    thread = world.add_thread(world.nsfw_channel, "after dark")
    job = await imagined_in(world, runtime, thread)
    world.set_archived(thread)  # discord.py drops archived threads from its cache
    refused = await answer(await world.slash("show", {"job": job.id}, channel=world.channel))
    assert "was made in an age-restricted channel" in refused.embed_text()
    await world.settle()
    assert thread.archived
    assert not [m for m in world.messages(world.channel) if is_result(job.id)(m)]


async def test_show_treats_an_unknown_age_restriction_as_restricted(
    world: World, runtime: Runtime
) -> None:
    assert runtime.jobs is not None
    unknown = Requester(
        guild_id=world.guild.id, channel_id=world.channel.id, user_id=world.member.id
    )
    made = await runtime.jobs.accept(GenerationRequest(MODEL, "an old job", {}), unknown)
    runtime.jobs.submit_soon(made)
    job = await until(runtime, made.id, lambda j: j.state.is_terminal)
    assert job.age_restricted is None  # e.g. accepted before the flag was recorded
    refused = await answer(await world.slash("show", {"job": job.id}, channel=world.art_channel))
    assert "may have been made in an age-restricted channel" in refused.embed_text()
    await answer(await world.slash("show", {"job": job.id}, channel=world.nsfw_channel))
    await world.wait_for_message(world.nsfw_channel, is_result(job.id))
    assert not [m for m in world.messages(world.art_channel) if is_result(job.id)(m)]


# -- moderators' rights follow the job's channel --------------------------------------------

VIEW = discord.Permissions(view_channel=True).value
MANAGE_MESSAGES = discord.Permissions(manage_messages=True).value


def private_channel(world: World) -> tuple[Channel, Member]:
    """#staff, hidden from @everyone and shown to the Staff role and the bot; a staffer."""
    role = world.add_role("Staff", 0)
    staff = world.add_channel("staff")
    world.set_overwrite(staff, world.guild.everyone, deny=VIEW)
    world.set_overwrite(staff, role, allow=VIEW)
    world.set_overwrite(staff, world.bot_member, allow=VIEW)
    return staff, world.add_member("staffer", roles=[role])


def art_helper(world: World) -> Member:
    """A member with Manage Messages in #art only (a channel overwrite on their role)."""
    role = world.add_role("Art helper", 0)
    world.set_overwrite(world.art_channel, role, allow=MANAGE_MESSAGES)
    return world.add_member("art-helper", roles=[role])


async def offered(world: World, command: str, user: Member, channel: Channel) -> list[int]:
    ix = await world.autocomplete(command, {"job": ""}, focused="job", user=user, channel=channel)
    return [c["value"] for c in await ix.choices()]


async def test_manage_messages_in_one_channel_does_not_reach_a_private_one(
    world: World, runtime: Runtime
) -> None:
    staff, staffer = private_channel(world)
    helper = art_helper(world)
    secret = await held(runtime, world, "a secret plan", user=staffer, channel=staff)
    shown = await delivered(runtime, world, "a secret map", user=staffer, channel=staff)
    art = world.art_channel

    assert await offered(world, "cancel", helper, art) == []
    assert await offered(world, "show", helper, art) == []
    cancel = await answer(await world.slash("cancel", {"job": secret.id}, user=helper, channel=art))
    assert "not yours" in cancel.embed_text()
    show = await answer(await world.slash("show", {"job": shown.id}, user=helper, channel=art))
    assert "not yours" in show.embed_text()
    await world.settle()
    assert not [m for m in world.messages(art) if is_result(shown.id)(m)]
    assert await state_of(runtime, secret.id) == S.RUNNING
    # The owner always sees their own jobs, from any channel.
    assert await offered(world, "cancel", staffer, world.channel) == [secret.id]


async def test_manage_messages_in_a_channel_moderates_its_jobs_from_anywhere(
    world: World, runtime: Runtime
) -> None:
    helper = art_helper(world)
    in_art = await held(runtime, world, "an art owl", channel=world.art_channel)
    in_general = await held(runtime, world, "a general owl")

    assert await offered(world, "cancel", helper, world.channel) == [in_art.id]
    refused = await answer(
        await world.slash("cancel", {"job": in_general.id}, user=helper, channel=world.art_channel)
    )
    assert "not yours" in refused.embed_text()
    done = await answer(await world.slash("cancel", {"job": in_art.id}, user=helper))
    assert done.content.startswith(f"Cancelled job #{in_art.id} of <@{world.member.id}>")
    assert (await until(runtime, in_art.id, lambda j: j.state.is_terminal)).state == S.CANCELLED
    assert await state_of(runtime, in_general.id) == S.RUNNING


async def test_manage_server_moderates_every_channel_but_lists_only_those_it_sees(
    world: World, runtime: Runtime
) -> None:
    staff, staffer = private_channel(world)
    secret = await held(runtime, world, "a secret plan", user=staffer, channel=staff)
    shown = await delivered(runtime, world, "a secret map", user=staffer, channel=staff)
    mod = world.moderator  # Manage Server and Manage Messages, not in Staff

    assert await offered(world, "cancel", mod, world.channel) == []
    assert await offered(world, "show", mod, world.channel) == []
    done = await answer(await world.slash("cancel", {"job": secret.id}, user=mod))
    assert done.content.startswith(f"Cancelled job #{secret.id} of <@{staffer.id}>")
    posted = await answer(await world.slash("show", {"job": shown.id}, user=mod))
    assert "Posted job" in posted.content


async def test_a_private_thread_is_hidden_from_manage_messages_without_manage_threads(
    world: World, runtime: Runtime
) -> None:
    helper_role = world.add_role("Helper", MANAGE_MESSAGES)
    helper = world.add_member("helper", roles=[helper_role])
    thread = world.add_thread(world.channel, "just us", private=True, members=[world.member])
    job = await held(runtime, world, "a private owl", channel=thread)
    assert await offered(world, "cancel", helper, world.channel) == []
    refused = await answer(await world.slash("cancel", {"job": job.id}, user=helper))
    assert "not yours" in refused.embed_text()
    assert await state_of(runtime, job.id) == S.RUNNING


async def test_a_cancel_after_max_api_started_is_charged_and_counted(
    world: World, runtime: Runtime, sim: Simulator
) -> None:
    """Default ``CANCEL_REFUNDS=pending``: a job Max API is running stays charged (the
    member is notified, ``/usage`` counts it); one still waiting in its queue is refunded."""
    started = await held(runtime, world, "a started owl")
    waiting = await accept(runtime, world, "a waiting owl [sim:hold=PENDING]")
    waiting = await until(runtime, waiting.id, lambda j: j.task_id is not None)

    charged = await answer(await world.slash("cancel", {"job": started.id}))
    assert charged.content == CHARGED_CANCEL_ANSWERS["pending"]
    free = await answer(await world.slash("cancel", {"job": waiting.id}))
    assert free.content == "Cancelled. You were not charged."
    in_chinese = await held(runtime, world, "a started owl, in Chinese")
    zh = await answer(await world.slash("cancel", {"job": in_chinese.id}, locale="zh-CN"))
    assert zh.content == "已取消。Max API 已经开始处理它，所以你仍被扣费。"

    usage = (await answer(await world.slash("usage show", {"period": "7d"}))).embed_text()
    started_line = next(x for x in usage.splitlines() if f"#{started.id} ·" in x)
    waiting_line = next(x for x in usage.splitlines() if f"#{waiting.id} ·" in x)
    assert "refunded" not in started_line and "$" in started_line
    assert "refunded" in waiting_line
    assert started.task_id is not None and len(sim.cancels_for(started.task_id)) == 1
