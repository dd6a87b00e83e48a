"""A test-only cog that exercises the Discord surface the real cogs use: responses,
deferrals, followups, channel uploads, attachment options, subcommands,
autocomplete and a persistent ``DynamicItem`` button."""

from __future__ import annotations

import io
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

FRUITS = ["apple", "apricot", "banana", "blueberry", "cherry"]


class CounterButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"echo:count:(?P<n>\d+)"
):
    """Persistent: its state is its custom id, so it works after a restart."""

    def __init__(self, n: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Count {n}", custom_id=f"echo:count:{n}", style=discord.ButtonStyle.primary
            )
        )
        self.n = n

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CounterButton:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(CounterButton(self.n + 1))
        await interaction.response.edit_message(content=f"clicked {self.n}", view=view)


class Feedback(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Your words", custom_id="words")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks for: {self.text.value}", ephemeral=True)


class Echo(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.last_interaction: discord.Interaction | None = None

    tools = app_commands.Group(name="tools", description="Little tools")

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(CounterButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(CounterButton)

    @app_commands.command(name="echo", description="Say it back")
    async def echo(
        self, interaction: discord.Interaction, text: str, ephemeral: bool = False
    ) -> None:
        self.last_interaction = interaction
        await interaction.response.send_message(text, ephemeral=ephemeral)

    @app_commands.command(name="upload", description="Post the text's bytes as a file")
    async def upload(self, interaction: discord.Interaction, text: str, repeat: int = 1) -> None:
        await interaction.response.defer(thinking=True)
        payload = (text * repeat).encode()
        assert interaction.channel is not None and isinstance(
            interaction.channel, discord.TextChannel
        )
        posted = await interaction.channel.send(file=discord.File(io.BytesIO(payload), "x.bin"))
        await interaction.followup.send(f"posted {posted.id} ({len(payload)} bytes)")

    @app_commands.command(name="mirror", description="Post a member's file back")
    async def mirror(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        data = await file.read()
        await interaction.response.send_message(
            f"{file.filename}: {file.size} bytes",
            file=discord.File(io.BytesIO(data[::-1]), f"reversed-{file.filename}"),
        )

    @app_commands.command(name="counter", description="A persistent counter button")
    async def counter(self, interaction: discord.Interaction) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(CounterButton(0))
        await interaction.response.send_message("count me", view=view)

    @app_commands.command(name="feedback", description="Open a form")
    async def feedback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback())

    @app_commands.command(name="pick", description="Pick a fruit")
    async def pick(self, interaction: discord.Interaction, fruit: str) -> None:
        await interaction.response.send_message(f"you picked {fruit}")

    @pick.autocomplete("fruit")
    async def pick_fruit(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=f.title(), value=f)
            for f in FRUITS
            if f.startswith(current.lower())
        ]

    @tools.command(name="whoami", description="Who ran this, where, with what rights")
    async def whoami(self, interaction: discord.Interaction) -> None:
        member = interaction.user
        assert isinstance(member, discord.Member)
        channel = interaction.channel
        nsfw = isinstance(channel, discord.TextChannel) and channel.is_nsfw()
        await interaction.response.send_message(
            f"{member.name} manage_guild={interaction.permissions.manage_guild} "
            f"nsfw={nsfw} attach={interaction.app_permissions.attach_files} "
            f"limit={interaction.filesize_limit}",
            ephemeral=True,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Echo(bot))
