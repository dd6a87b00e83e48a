"""Result files: real PNGs of the right shape, the sample MP4, big files, link expiry."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from simkit import Api, running

from simulator import Clock
from simulator.catalog import load_models
from simulator.media import image_size, pad_mp4, pad_png, sample_mp4

MODELS = load_models()


async def fetch(api: Api, url: str) -> tuple[int, str, bytes]:
    async with api.session.get(url) as response:  # no auth header: links are public
        return response.status, response.content_type, await response.read()


async def result_urls(api: Api, model: str, **params: Any) -> list[str]:
    task_id = await api.submit_ok(model, **params)
    data = await api.wait_terminal(task_id)
    assert data["status"] == "SUCCESS", data
    return list(data["result"]["urls"])


def open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


@pytest.mark.parametrize(
    ("model", "params", "size"),
    [
        ("seedream-4.5", {"ratio": "16:9"}, (512, 288)),
        ("seedream-4.5", {"ratio": "9:16", "resolution": "4k"}, (288, 512)),
        ("seedream-4.5", {"ratio": "21:9"}, (512, 219)),
        ("nano-banana-2", {"ratio": "3:4"}, (384, 512)),
        ("gpt-image-2/text-to-image", {"ratio": "2:1", "resolution": "2k"}, (512, 256)),
        ("grok-imagine/text-to-image-lite", {}, (512, 512)),
        ("grok-imagine/text-to-image-lite", {"prompt": "a wide landscape"}, (512, 288)),
        ("grok-imagine/image-to-image", {"imageUrls": ["https://x/a.png"]}, (512, 512)),
    ],
)
async def test_png_has_the_requested_shape(
    model: str, params: dict[str, Any], size: tuple[int, int]
) -> None:
    params.setdefault("prompt", "a lighthouse at dusk")
    async with running() as (_sim, api):
        (url,) = await result_urls(api, model, **params)
        assert url.endswith("/0.png")
        status, kind, data = await fetch(api, url)
        assert (status, kind) == (200, "image/png")
        image = open_png(data)
        assert image.size == size


async def test_n_images_are_distinct_valid_pngs() -> None:
    async with running() as (_sim, api):
        urls = await result_urls(api, "seedream-4", prompt="three kites", n=3)
        assert len(set(urls)) == 3
        bodies = [await fetch(api, url) for url in urls]
        assert all(status == 200 for status, _, _ in bodies)
        assert len({data for _, _, data in bodies}) == 3  # each one drawn on its own
        for _, _, data in bodies:
            open_png(data)


async def test_nominal_size_when_not_scaled_down() -> None:
    async with running(image_max_side=None) as (_sim, api):
        (url,) = await result_urls(api, "gpt-image-2/text-to-image", prompt="x", ratio="16:9")
        assert open_png((await fetch(api, url))[2]).size == (1024, 576)


def test_image_sizes_follow_resolution() -> None:
    entry = MODELS["grok-imagine/text-to-image-pro"]
    assert image_size(
        "grok-imagine/text-to-image-pro", entry, {"ratio": "16:9", "resolution": "720p"}, None
    ) == (1280, 720)
    assert image_size(
        "grok-imagine/text-to-image-pro", entry, {"ratio": "9:16", "resolution": "1080p"}, None
    ) == (1080, 1920)
    seedream = MODELS["seedream-4.5"]
    assert image_size("seedream-4.5", seedream, {"ratio": "4:3", "resolution": "2k"}, None) == (
        2048,
        1536,
    )
    assert image_size("seedream-4.5", seedream, {"ratio": "4:3", "resolution": "2k"}, 512) == (
        512,
        384,
    )


async def test_video_is_the_sample_mp4() -> None:
    async with running() as (_sim, api):
        (url,) = await result_urls(api, "veo3", prompt="waves", imageUrls=["https://x/a.png"])
        assert url.endswith("/0.mp4")
        status, kind, data = await fetch(api, url)
        assert (status, kind) == (200, "video/mp4")
        assert data[4:12] == b"ftypisom"
        assert data == sample_mp4()
        assert len(data) < 20_000


async def test_big_png_by_directive_is_exact_and_valid() -> None:
    size = 30 * 1024 * 1024
    async with running() as (_sim, api):
        (url,) = await result_urls(api, "seedream-4", prompt="huge [sim:size=30MB]")
        status, _, data = await fetch(api, url)
        assert status == 200 and len(data) == size
        assert open_png(data).size == (512, 512)


async def test_big_files_by_config() -> None:
    async with running() as (sim, api):
        video = await result_urls(api, "grok-imagine/text-to-video", prompt="x")
        image = await result_urls(api, "seedream-4", prompt="x")
        sim.config.result_bytes = 2_000_000  # applies to files served from now on
        _, _, mp4 = await fetch(api, video[0])
        _, _, png = await fetch(api, image[0])
        assert len(mp4) == len(png) == 2_000_000
        assert (
            mp4.startswith(sample_mp4())
            and mp4[len(sample_mp4()) + 4 : len(sample_mp4()) + 8] == b"free"
        )
        open_png(png)


@pytest.mark.parametrize("extra", [12, 13, 100, 5000])
def test_pad_png_exact(extra: int) -> None:
    base = pad_png(_tiny_png(), 0)
    padded = pad_png(base, len(base) + extra)
    assert len(padded) == len(base) + extra
    open_png(padded)


def test_pad_cannot_shrink_or_split_below_a_chunk() -> None:
    base = _tiny_png()
    assert pad_png(base, len(base) - 5) == base
    assert pad_png(base, len(base) + 11) == base
    mp4 = sample_mp4()
    assert pad_mp4(mp4, len(mp4) + 7) == mp4
    assert len(pad_mp4(mp4, len(mp4) + 8)) == len(mp4) + 8


async def test_links_expire_after_seven_days() -> None:
    clock = Clock(frozen=True)
    async with running(clock=clock) as (_sim, api):
        (url,) = await result_urls(api, "seedream-4", prompt="x [sim:seconds=0]")
        clock.advance(7 * 86400 - 1)
        assert (await fetch(api, url))[0] == 200
        clock.advance(2)
        status, _, body = await fetch(api, url)
        assert status == 403 and b"expired" in body
        # the task itself is still queryable; only the link is gone
        assert len(await result_urls(api, "seedream-4", prompt="y [sim:seconds=0]")) == 1


async def test_link_ttl_is_configurable() -> None:
    clock = Clock(frozen=True)
    async with running(clock=clock, url_ttl_seconds=60) as (_sim, api):
        (url,) = await result_urls(api, "seedream-4", prompt="x [sim:seconds=0]")
        clock.advance(61)
        assert (await fetch(api, url))[0] == 403


async def test_missing_files_are_404() -> None:
    async with running() as (sim, api):
        (url,) = await result_urls(api, "seedream-4", prompt="x")
        held = await api.submit_ok("seedream-4", prompt="x [sim:hold]")
        failed = await api.submit_ok("seedream-4", prompt="x [sim:fail]")
        await api.wait_terminal(failed)
        task_id = url.split("/")[-2]
        for path in (
            f"/files/{task_id}/1.png",
            f"/files/{task_id}/0.mp4",
            f"/files/{task_id}/x.png",
            f"/files/{held}/0.png",
            f"/files/{failed}/0.png",
            "/files/nope/0.png",
        ):
            assert (await fetch(api, sim.base_url + path))[0] == 404, path


async def test_public_url_prefixes_result_links() -> None:
    async with running(public_url="https://sim.example/") as (_sim, api):
        (url,) = await result_urls(api, "seedream-4", prompt="x")
        assert url.startswith("https://sim.example/files/")


def _tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (1, 2, 3)).save(out, format="PNG")
    return out.getvalue()
