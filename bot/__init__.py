"""Atelier: a Discord bot for the image and video models behind Max API."""

__version__ = "0.1.0"
USER_AGENT = f"Atelier/{__version__} (+https://github.com/atelier-bot/atelier)"
