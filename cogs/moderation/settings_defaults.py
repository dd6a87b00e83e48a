"""/settings channel … and /settings styles …: a channel's defaults and house styles"""

from __future__ import annotations


class DefaultsSettings:
    """Mixed into :class:`.settings.SettingsCommands`."""
