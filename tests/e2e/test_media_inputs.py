"""Issue 17 item 3, end to end: as many images as the model takes, and Seedance 2.0's
video and audio references, sent in ``mediaUrls`` as images, then videos, then audio.

Refusals are one private sentence, before anything is reserved or sent to Max API."""

from __future__ import annotations

from typing import Any

from simulator import Simulator
from tests.discord_world import World
from tests.e2e.support import App, card, job_id_of, nothing_happened, refusal
from tests.media_files import mp4, wav

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def pngs(world: World, count: int) -> dict[str, Any]:
    names = ["image", "image2", *(f"image{n}" for n in range(3, count + 1))]
    return {name: world.attachment(f"p{i}.png", PNG) for i, name in enumerate(names[:count])}


async def submitted(sim: Simulator) -> dict[str, Any]:
    await sim.wait_for(lambda: bool(sim.submissions))
    body: dict[str, Any] = sim.submissions[0].body
    return body


async def test_imagine_sends_four_images_to_a_model_taking_ten(
    world: World, sim: Simulator, app: App
) -> None:
    images = pngs(world, 4)
    ix = await world.slash("imagine", {"prompt": "blend them", "model": "seedream-4.5", **images})
    job_id = job_id_of(await card(ix))
    body = await submitted(sim)
    assert body["input"]["imageUrls"] == [a.url for a in images.values()]
    job = await app.store.get(job_id)
    assert job is not None and job.image_urls == [a.url for a in images.values()]


async def test_more_images_than_the_model_takes_is_refused_and_costs_nothing(
    world: World, sim: Simulator, app: App
) -> None:
    ix = await world.slash("video", {"prompt": "x", "model": "veo3", **pngs(world, 4)})
    assert "veo3 takes at most 3 images; you attached 4." in await refusal(ix)
    zh = await world.slash("nanobanana", {"prompt": "x", **pngs(world, 5)}, locale="zh-CN")
    await card(zh)  # Nano Banana takes 5
    await nothing_happened_but(app, sim, 1)


async def nothing_happened_but(app: App, sim: Simulator, jobs: int) -> None:
    await submitted(sim)
    assert sum((await app.store.count_by_state()).values()) == jobs


async def test_seedance_sends_images_then_video_then_audio(
    world: World, sim: Simulator, app: App
) -> None:
    first, second = world.attachment("a.png", PNG), world.attachment("b.png", PNG)
    clip = world.attachment("clip.mp4", mp4(4.5, moov_last=True), content_type="video/mp4")
    sound = world.attachment("beat.wav", wav(3.0), content_type="audio/wav")
    options = {"image": first, "image2": second, "video": clip, "audio": sound}
    prompt = "@1 dances with @2 to @4"  # 4 s keeps it under the cost confirmation's $0.50
    ix = await world.slash("seedance", {"prompt": prompt, "duration": 4, **options})
    await card(ix)
    body = await submitted(sim)
    assert body["model"] == "seedance-2.0"
    assert body["input"]["mediaUrls"] == [first.url, second.url, clip.url, sound.url]
    # moov after mdat: the header, then the moov box, in two small ranged reads
    assert clip.fetches[:2] == ["bytes=0-65535", "bytes=100028-165563"]


async def test_too_long_or_unwanted_references_are_refused_before_reservation(
    world: World, sim: Simulator, app: App
) -> None:
    long = world.attachment("long.mp4", mp4(20.0), content_type="video/mp4")
    ix = await world.slash("seedance", {"prompt": "x", "video": long})
    assert "Your videos last 20.0 s in all; seedance-2.0 takes at most 15 s of video." in (
        await refusal(ix)
    )
    a, b = (world.attachment(f"{n}.wav", wav(8.0), content_type="audio/wav") for n in "ab")
    ix = await world.slash("seedance", {"prompt": "x", "audio": a, "audio2": b})
    assert "Your audio lasts 16.0 s in all" in await refusal(ix)
    clip = world.attachment("clip.mp4", mp4(3.0), content_type="video/mp4")
    ix = await world.slash("video", {"prompt": "x", "model": "veo3", "video": clip})
    assert "veo3 takes no video or audio files" in await refusal(ix)
    ix = await world.slash(
        "seedance", {"prompt": "x", "model": "seedance-1.5-pro", "video": clip}, locale="zh-CN"
    )
    assert "不接受视频或音频文件" in await refusal(ix)
    fake = world.attachment("fake.mp4", PNG, content_type="video/mp4")
    ix = await world.slash("seedance", {"prompt": "x", "video": fake})
    assert "“fake.mp4” is not a video file Atelier can use" in await refusal(ix)
    song = world.attachment("song.mp3", b"\x00" * 200, content_type="audio/mpeg")
    ix = await world.slash("seedance", {"prompt": "x", "audio": song})
    assert "“song.mp3” is not a sound file Atelier can use. Attach .mp3 or .wav." in (
        await refusal(ix)
    )
    await nothing_happened(app, sim)
