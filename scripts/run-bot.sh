#!/usr/bin/env bash
# Install what the bot needs (first run only) and run it; settings come from .env.
# Arguments go to python -m bot: scripts/run-bot.sh check, scripts/run-bot.sh --help.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec "${ATELIER_VENV:-$ROOT/.venv}/bin/python" -m bot "$@"
