"""House styles end to end: real discord.py against the local Discord, the Max API
simulator and the whole runtime. Moderators add, list and remove styles; members pick
one by autocomplete on every generation command; its text goes to the end of the prompt
that is sent and shown on the card; an unknown style is refused and costs nothing."""

from __future__ import annotations

from simulator import Simulator
from tests.discord_world import World
from tests.e2e.support import App, card, job_id_of, refusal, run_to_the_end, settled
from tests.e2e.support import as_moderator as moderator

NOIR = "black and white, hard shadows"
CLEAN = "avoid text, watermarks and logos"


async def add_styles(world: World) -> None:
    await moderator(world, "settings styles add", {"name": "Noir", "text": NOIR})
    await moderator(world, "settings styles add", {"name": "Clean", "text": CLEAN})


async def test_moderators_add_list_and_remove_styles(world: World, app: App) -> None:
    added = await moderator(world, "settings styles add", {"name": "Noir", "text": NOIR})
    assert f"added style “Noir”: {NOIR}" in added.embed_text()
    await moderator(world, "settings styles add", {"name": "Clean", "text": "avoid text"})
    changed = await moderator(world, "settings styles add", {"name": "clean", "text": CLEAN})
    assert f"changed style “clean”: {CLEAN}" in changed.embed_text()

    listed = await moderator(world, "settings styles list", {})
    (embed,) = listed.embeds
    assert embed["title"] == "House styles (2)"
    assert [(f["name"], f["value"]) for f in embed["fields"]] == [("clean", CLEAN), ("Noir", NOIR)]
    ac = await world.autocomplete(
        "settings styles remove", {"name": "no"}, focused="name", user=world.moderator
    )
    assert await ac.choices() == [{"name": f"Noir: {NOIR}", "value": "Noir"}]

    removed = await moderator(world, "settings styles remove", {"name": "NOIR"})
    assert "removed style “Noir”" in removed.embed_text()
    show = await moderator(world, "settings show", {})
    assert "House styles" in show.embed_text() and "1 (/settings styles list)" in show.embed_text()
    ix = await world.slash("settings styles remove", {"name": "Noir"}, user=world.moderator)
    assert "no style called “Noir”" in await refusal(ix)
    ix = await world.slash("settings styles add", {"name": "x", "text": "y"})  # a member
    assert "Only moderators" in await refusal(ix)
    actions = [e["action"] for e in await app.store.audit_entries(world.guild.id)]
    assert actions.count("settings.styles") == 4

    await moderator(world, "settings styles remove", {"name": "clean"})
    empty = await moderator(world, "settings styles list", {}, locale="zh-CN")
    assert "还没有服务器风格" in empty.embed_text()


async def test_imagine_with_a_style_sends_and_shows_the_prompt_with_it(
    world: World, sim: Simulator, app: App
) -> None:
    await add_styles(world)
    ac = await world.autocomplete("imagine", {"prompt": "a fox", "style": "cle"}, focused="style")
    assert await ac.choices() == [{"name": f"Clean: {CLEAN}", "value": "Clean"}]
    ac = await world.autocomplete("seedream", {"prompt": "a fox", "style": ""}, focused="style")
    assert [c["value"] for c in await ac.choices()] == ["Clean", "Noir"]

    ix = await world.slash("imagine", {"prompt": "a fox ", "style": "noir"})
    message = await card(ix)
    (embed,) = message.embeds
    assert embed["description"] == f"a fox, {NOIR}"
    assert {"name": "Style", "value": "Noir", "inline": True} in embed["fields"]
    job, result = await run_to_the_end(world, app, ix)
    assert (job.prompt, job.style) == (f"a fox, {NOIR}", "Noir")
    assert sim.submissions[-1].body["input"]["prompt"] == f"a fox, {NOIR}"

    # Reroll reuses the prompt as sent: the style is not added twice.
    click = await world.click(result, f"atelier:reroll:{job.id}")
    again = await app.store.get(job_id_of(await card(click)))
    assert again is not None and (again.prompt, again.style) == (job.prompt, "Noir")
    await settled(app.store, again.id)
    assert sim.submissions[-1].body["input"]["prompt"] == f"a fox, {NOIR}"

    # The family commands take a style too.
    # Above $0.50 a job asks Confirm first (tests/e2e/test_confirm.py): not this test.
    await app.store.update_guild_config(world.guild.id, confirm_above_usd=0.0)
    ix = await world.slash("veo", {"prompt": "waves", "style": "Clean"})
    video, _ = await run_to_the_end(world, app, ix)
    assert sim.submissions[-1].body["input"]["prompt"] == f"waves, {CLEAN}"
    assert video.style == "Clean"


async def test_an_unknown_style_is_refused_and_costs_nothing(
    world: World, sim: Simulator, app: App
) -> None:
    await add_styles(world)
    ix = await world.slash("imagine", {"prompt": "a fox", "style": "sepia"})
    text = await refusal(ix)
    assert "no style called “sepia”: pick one from the list" in text
    ix = await world.slash("imagine", {"prompt": "a fox", "style": "sepia"}, locale="zh-CN")
    assert "本服务器没有名为“sepia”的风格" in await refusal(ix)
    assert await app.store.count_by_state() == {}
    assert sim.submissions == []


async def test_the_word_filter_reads_the_style_and_the_card_speaks_chinese(
    world: World, app: App
) -> None:
    await add_styles(world)
    await moderator(world, "settings words add", {"words": "watermarks"})
    ix = await world.slash("imagine", {"prompt": "a fox", "style": "Clean"})
    assert "does not allow" in await refusal(ix)
    ix = await world.slash("imagine", {"prompt": "一只狐狸", "style": "Noir"}, locale="zh-CN")
    (embed,) = (await card(ix)).embeds
    assert embed["description"] == f"一只狐狸, {NOIR}"
    assert {"name": "风格", "value": "Noir", "inline": True} in embed["fields"]
    assert sum((await app.store.count_by_state()).values()) == 1  # the refused one: no job
