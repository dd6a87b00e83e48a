"""Cogs that answer some of the ``atelier:<action>:<job id>`` buttons (Report, Remix,
Confirm, Upscale …) hand their handlers to the ``JobButtons`` cog, which reads the job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord.ext import commands

from bot.domain.job import Job

#: What a job button does: answer the click on ``job``.
Handler = Callable[[discord.Interaction, Job], Awaitable[None]]


class ButtonActions(commands.Cog):
    """Registers :meth:`actions` with ``JobButtons`` when loaded (after ``cogs.buttons``)
    and takes them back when unloaded."""

    bot: commands.Bot

    def actions(self) -> dict[str, Handler]:
        raise NotImplementedError

    async def cog_load(self) -> None:
        buttons: Any = self.bot.get_cog("JobButtons")
        if buttons is None:
            raise RuntimeError(f"{type(self).__name__} needs cogs.buttons, loaded before it")
        buttons.more_actions.update(self.actions())

    async def cog_unload(self) -> None:
        buttons: Any = self.bot.get_cog("JobButtons")
        if buttons is not None:
            for action in self.actions():
                buttons.more_actions.pop(action, None)
