"""The layering DESIGN.md asks for, as folders: ``bot/domain`` (rules: no discord, no I/O),
``bot/text``, ``bot/store`` (the only SQL), ``bot/maxapi``, ``bot/services`` (no discord),
``bot/discord_io``; ``bot/`` never imports ``cogs/``; cogs reach services only; no module
over 500 lines; unique command names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COGS = sorted((ROOT / "cogs").rglob("*.py"))

#: What each layer may import from ``bot`` (``bot`` itself is the version and user agent).
LAYERS = {
    "domain": ("bot.domain",),
    "text": ("bot.domain", "bot.text"),
    "store": ("bot.domain", "bot.store"),
    "maxapi": ("bot", "bot.domain", "bot.maxapi", "bot.settings"),
    "services": (
        "bot",
        "bot.domain",
        "bot.text",
        "bot.store",
        "bot.maxapi",
        "bot.services",
        "bot.settings",
    ),
}
#: Libraries that mean Discord or I/O.
NOT_PURE = ("discord", "aiohttp", "sqlite3", "sqlite_utils", "asyncio")


def modules_of(layer: str) -> list[str]:
    folder = ROOT / "bot" / layer
    return sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in folder.rglob("*.py")
    )


WITHOUT_DISCORD = [m for layer in LAYERS for m in modules_of(layer)]


@pytest.mark.parametrize("module", WITHOUT_DISCORD)
def test_layers_below_discord_io_do_not_import_discord(module: str) -> None:
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


def path_of(module: str) -> Path:
    base = ROOT / module.replace(".", "/")
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


@pytest.mark.parametrize("module", modules_of("domain"))
def test_domain_imports_no_discord_and_no_io(module: str) -> None:
    io = sorted(n for n in imports_of(path_of(module)) if n.split(".")[0] in NOT_PURE)
    assert io == [], f"{module} imports {io}"


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_layer_imports_only_the_layers_below(layer: str) -> None:
    allowed = LAYERS[layer]
    offenders = []
    for module in modules_of(layer):
        for name in imports_of(path_of(module)):
            if name.split(".")[0] != "bot":
                continue
            if not any(name == a or (a != "bot" and name.startswith(a + ".")) for a in allowed):
                offenders.append(f"{module} imports {name}")
    assert offenders == []


def test_no_module_is_over_500_lines() -> None:
    long = []
    for folder in ("bot", "cogs", "simulator"):
        for path in (ROOT / folder).rglob("*.py"):
            lines = len(path.read_text().splitlines())
            if lines > 500:
                long.append(f"{relative(path)}: {lines}")
    assert long == []


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
        if path.is_relative_to(ROOT / "bot" / "store"):
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


def test_no_test_module_imports_another() -> None:
    """Shared test code lives in helper modules and conftest.py, never in a test_*.py."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
            else:
                continue
            ours = [n for n in names if n.startswith(("tests.", "."))]
            if any(n.rsplit(".", 1)[-1].startswith("test_") for n in ours):
                offenders.append(f"{relative(path)}:{node.lineno}")
    assert offenders == []
