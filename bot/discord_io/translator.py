"""The bridge from the translation table (``bot/text/i18n.py``) to discord.py's command sync."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.text.i18n import normalise, t, t_fields, table

#: Command and group names stay English in every locale: messages, the README and
#: moderators cite them ("use /cancel", "/limits set"), and a shared server would
#: otherwise see one command under several names.
ENGLISH_NAMES = frozenset(
    {
        app_commands.TranslationContextLocation.command_name,
        app_commands.TranslationContextLocation.group_name,
    }
)


class Translator(app_commands.Translator):
    """Descriptions, option names and choices for discord.py's command sync (and its
    autocomplete answers). Command and group names stay English (:data:`ENGLISH_NAMES`)."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if context.location in ENGLISH_NAMES:
            return None
        entries = table(normalise(locale))
        template = string.extras.get("template")
        if template is None or not entries:
            return entries.get(string.message)
        # A description made from a template (a family's): translated with its fields.
        translated = t(locale, template, **t_fields(locale, string.extras["fields"]))
        return translated if translated != string.message else None
