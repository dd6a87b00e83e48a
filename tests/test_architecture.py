"""The layering DESIGN.md asks for: pure rules without discord or I/O, ``bot/`` never
importing ``cogs/``, cogs that reach services only (no store, no SQL, no other cog), SQL
only in ``bot/store.py`` (plus the simulator, which stands apart), and unique command
names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COGS = sorted((ROOT / "cogs").rglob("*.py"))

#: The pure rules (the future domain folder): no discord, no I/O, and from ``bot`` only
#: each other.
PURE = [
    "bot.catalog",
    "bot.errors",
    "bot.job_states",
    "bot.moderation",
    "bot.poll_schedule",
    "bot.quota",
    "bot.units",
]
#: Libraries that mean Discord or I/O.
NOT_PURE = ("discord", "aiohttp", "sqlite3", "sqlite_utils", "asyncio")

#: Modules that hold logic but no Discord; each must import without pulling in discord.
DOMAIN = [
    *PURE,
    "bot.attachments",
    "bot.audit",
    "bot.command_specs",
    "bot.delivery_plan",
    "bot.download",
    "bot.guild_config",
    "bot.guild_settings_service",
    "bot.i18n",
    "bot.job_queries",
    "bot.job_views",
    "bot.jobs",
    "bot.maxapi",
    "bot.metrics",
    "bot.model_pages",
    "bot.moderation_service",
    "bot.poller",
    "bot.progress",
    "bot.settings",
    "bot.store",
    "bot.tasks",
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
    """Every module ``path`` imports by absolute name (relative imports as ``.name``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("module", PURE)
def test_pure_rules_import_no_discord_and_no_io(module: str) -> None:
    names = imports_of(ROOT / (module.replace(".", "/") + ".py"))
    io = sorted(n for n in names if n.split(".")[0] in NOT_PURE)
    assert io == [], f"{module} imports {io}"
    outside = sorted(n for n in names if n.startswith("bot.") and n not in PURE)
    assert outside == [], f"{module} imports {outside}, which are not pure rules"


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


def test_cogs_never_touch_the_store() -> None:
    """Cogs reach services only: no ``.store`` attribute, no SQL, no database module."""
    offenders = []
    for path in COGS:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "store":
                offenders.append(f"{relative(path)}:{node.lineno} .store")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                words = node.value.upper().split()
                if {"SELECT", "INSERT", "UPDATE", "DELETE"} & set(words[:1]) and (
                    {"FROM", "INTO", "SET", "WHERE"} & set(words)
                ):
                    offenders.append(f"{relative(path)}:{node.lineno} SQL")
        io = sorted(n for n in imports_of(path) if n.split(".")[0] in ("sqlite3", "sqlite_utils"))
        offenders += [f"{relative(path)} imports {name}" for name in io]
    assert offenders == []


def test_cogs_do_not_import_cogs() -> None:
    """A cog imports no other cog; a cog package (``cogs/moderation/``) may import its
    own modules, relatively, and nothing above them."""
    offenders = []
    for path in COGS:
        in_package = path.parent != ROOT / "cogs"
        for name in imports_of(path):
            a_cog = name == "cogs" or name.startswith("cogs.")
            outside = name.startswith(".") and (not in_package or name.startswith(".."))
            if a_cog or outside:
                offenders.append(f"{relative(path)} imports {name}")
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
