"""/settings channels spoiler and /settings adult: what results may show"""

from __future__ import annotations


class ContentSettings:
    """Mixed into :class:`.settings.SettingsCommands`."""
