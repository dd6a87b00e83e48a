#!/usr/bin/env bash
# Create .venv (if missing) and install Atelier into it; "dev" adds the test tools.
# Sourced by scripts/run-bot.sh and scripts/test.sh, so both work on a fresh machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ATELIER_VENV:-$ROOT/.venv}"
EXTRA="${1:-}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$EXTRA-$(cat "$ROOT/pyproject.toml" | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    if [ -n "$EXTRA" ]; then
        "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$EXTRA]"
    else
        "$VENV/bin/python" -m pip install --quiet -e "$ROOT"
    fi
    rm -f "$VENV"/.installed-* && touch "$stamp"
fi
