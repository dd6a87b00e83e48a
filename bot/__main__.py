"""``python -m bot``: the command line (:mod:`bot.cli`); with no command, run the bot."""

from __future__ import annotations

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
