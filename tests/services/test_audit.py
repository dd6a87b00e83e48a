"""Every action the bot audits reads as a title in the audit channel, not its raw name."""

from __future__ import annotations

import re
from pathlib import Path

from bot.services.audit import ACTION_TITLES, AuditEntry, describe

ROOT = Path(__file__).resolve().parents[2]
ACTION = re.compile(r'"((?:settings|report|usage|job|limits|budget)\.[a-z_]+)"')


def test_every_audited_action_has_a_title() -> None:
    used = {
        name
        for folder in ("bot", "cogs")
        for path in (ROOT / folder).rglob("*.py")
        for name in ACTION.findall(path.read_text())
    }
    assert "settings.styles" in used  # the scan finds the actions
    assert sorted(used - ACTION_TITLES.keys()) == []


def test_a_title_is_shown_in_place_of_the_action() -> None:
    entry = AuditEntry(1, 10, 20, "settings.styles", None, {"summary": "added `ink`"}, 0.0)
    assert "**House styles changed**" in describe(entry)
