"""Upscale end to end: the button under image results that a higher resolution exists
for, and the new job it starts for the clicker."""

from __future__ import annotations

from bot.domain.job_states import JobState
from simulator import Simulator
from tests.discord_world import World
from tests.e2e.support import App, card, delivered, job_id_of, settled


async def test_upscale_shows_only_below_the_highest_resolution(world: World, app: App) -> None:
    low, low_result = await delivered(world, app, {"prompt": "a fox", "resolution": "1K"})
    assert f"atelier:upscale:{low.id}" in low_result.custom_ids()
    labels = [b.get("label") for b in low_result.buttons()]
    assert labels.index("Upscale") < labels.index("Delete") < labels.index("Report")
    top, top_result = await delivered(world, app, {"prompt": "a fox", "resolution": "4K"})
    assert f"atelier:vary:{top.id}" in top_result.custom_ids()
    assert f"atelier:upscale:{top.id}" not in top_result.custom_ids()


async def test_no_upscale_under_a_video(world: World, app: App) -> None:
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=0.0)
    job, result = await delivered(world, app, {"prompt": "waves", "resolution": "1080p"}, "video")
    assert job.media == "video"
    assert f"atelier:info:{job.id}" in result.custom_ids()
    assert not any(c.startswith("atelier:upscale:") for c in result.custom_ids())


async def test_upscale_is_a_new_job_at_the_highest_resolution_for_the_clicker(
    world: World, sim: Simulator, app: App
) -> None:
    # Above $0.50 a job asks Confirm first (tests/e2e/test_confirm.py): not this test.
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=0.0)
    job, result = await delivered(world, app, {"prompt": "a fox", "resolution": "1K"})
    clicker = world.add_member("someone-else")
    click = await world.click(result, f"atelier:upscale:{job.id}", user=clicker)
    message = await card(click)
    big = await app.store.get(job_id_of(message))
    assert big is not None
    assert (big.parent_job_id, big.action, big.model) == (job.id, "upscale", "nano-banana-2")
    assert big.user_id == clicker.user.id  # charged to whoever clicked
    assert big.prompt == job.prompt and big.image_urls == job.result_urls
    assert big.input["resolution"] == "4k" and big.input["imageUrls"] == job.result_urls
    assert big.price_usd > 0 and "$" in message.embed_text()  # its own cost on its card
    assert (await settled(app.store, big.id)).state == JobState.DELIVERED
    assert sim.submissions[-1].body["user_id"] == str(clicker.user.id)


async def test_upscale_of_a_gallery_asks_which_image(world: World, app: App) -> None:
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=0.0)
    job, result = await delivered(
        world, app, {"prompt": "two foxes", "count": 2, "resolution": "2k"}, command="seedream"
    )
    click = await world.click(result, f"atelier:upscale:{job.id}")
    await click.wait_response()
    picker = click.original
    assert picker is not None and picker.ephemeral
    (select,) = [c for c in picker.buttons() if c.get("type") == 3]
    chosen = await world.click(picker, select["custom_id"], values=["1"])
    big = await app.store.get(job_id_of(await card(chosen)))
    assert big is not None and big.image_urls == [job.result_urls[1]]
    assert big.input["resolution"] == "4k" and "n" not in big.input


async def test_a_show_repost_offers_upscale_like_the_result(world: World, app: App) -> None:
    """``/show`` posts the result again with the same Upscale (and no Delete or Report)."""
    job, _ = await delivered(world, app, {"prompt": "a fox", "resolution": "1K"})
    ix = await world.slash("show", {"job": job.id}, channel=world.art_channel)
    await ix.wait_response()
    again = await world.wait_for_message(
        world.art_channel, lambda m: f"job #{job.id}" in m.content and bool(m.files), timeout=20
    )
    assert f"atelier:upscale:{job.id}" in again.custom_ids()
    assert f"atelier:delete:{job.id}" not in again.custom_ids()
    assert f"atelier:report:{job.id}" not in again.custom_ids()
