"""/settings models …: default and allowed models, pausing one"""

from __future__ import annotations


class ModelSettings:
    """Mixed into :class:`.settings.SettingsCommands`."""
