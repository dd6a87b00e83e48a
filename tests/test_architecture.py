"""The layering DESIGN.md asks for: domain logic without discord, ``bot/`` never
importing ``cogs/``, SQL only in ``bot/store.py`` (plus the simulator, which stands
apart), and unique command names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Modules that hold domain logic; each must import without pulling in discord.
DOMAIN = [
    "bot.answers_first",
    "bot.attachments",
    "bot.audit",
    "bot.catalog",
    "bot.command_specs",
    "bot.delivery_plan",
    "bot.download",
    "bot.guild_config",
    "bot.heap",
    "bot.i18n",
    "bot.job_states",
    "bot.job_views",
    "bot.jobs",
    "bot.maxapi",
    "bot.metrics",
    "bot.model_pages",
    "bot.moderation",
    "bot.poll_schedule",
    "bot.poller",
    "bot.progress",
    "bot.quota",
    "bot.settings",
    "bot.store",
    "bot.usage_report",
    "bot.webhook",
]


@pytest.mark.parametrize("module", DOMAIN)
def test_domain_modules_do_not_import_discord(module: str) -> None:
    code = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        "print('discord' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False", f"{module} pulls in discord"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_bot_never_imports_cogs() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "bot").rglob("*.py")
        if any(name == "cogs" or name.startswith("cogs.") for name in imports_of(p))
    ]
    assert offenders == []


def test_sql_lives_in_the_store() -> None:
    offenders = []
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").rglob("*.py")]:
        if path.name == "store.py" or "simulator" in path.parts:
            continue
        text = path.read_text()
        if "sqlite3" in text or "sqlite_utils" in text or ".execute(" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


async def test_every_cog_loads_and_command_names_are_unique(make_bot) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    for name in bot._extensions:
        await bot.load_extension(name)
    names = [c.name for c in bot.tree.get_commands()]
    assert len(names) == len(set(names))
    assert {
        "imagine",
        "video",
        "jobs",
        "cancel",
        "show",
        "models",
        "usage",
        "limits",
        "block",
        "unblock",
        "settings",
        "status",
        "seedream",
        "nanobanana",
        "gptimage",
        "jimeng",
        "grok",
        "veo",
        "seedance",
    } <= set(names)
    await bot.close()
