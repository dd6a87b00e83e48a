#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml; run it after changing a dependency.
# Pins already in the locks are kept; `scripts/lock.sh --upgrade` moves all to the newest.
# requirements.lock: the bot with its PostgreSQL driver (Docker, run-bot.sh); -simulator adds the simulator; -dev adds
# the test tools (test.sh, CI). The two smaller locks take their versions from the dev lock.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ATELIER_VENV:-$ROOT/.venv}"
UV_VERSION=0.13.9
if [ ! -x "$VENV/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$VENV"
fi
if [ "$("$VENV/bin/python" -m uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --quiet "uv==$UV_VERSION"
fi
cd "$ROOT"
compile() {
    UV_CUSTOM_COMPILE_COMMAND="scripts/lock.sh" "$VENV/bin/python" -m uv pip compile \
        --quiet --universal --generate-hashes --no-config pyproject.toml "$@"
}
compile --extra dev -o requirements-dev.lock "$@"
compile --extra simulator --extra postgres -c requirements-dev.lock -o requirements-simulator.lock
compile --extra postgres -c requirements-dev.lock -o requirements.lock
