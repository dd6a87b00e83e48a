"""One cog per user-facing feature; thin: parse, call ``bot/``, render."""
