#!/usr/bin/env bash
# Create .venv (if missing) and install Atelier into it from the lock files: no argument
# for the bot, "simulator" adds the simulator, "dev" adds the simulator and the test tools.
# One stamp records what is installed, so a smaller set than the last one installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ATELIER_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
locks=(requirements.lock requirements-simulator.lock requirements-dev.lock)
case "${1:-}" in
    "") want=0 ;;
    simulator) want=1 ;;
    dev) want=2 ;;
    *) echo "bootstrap.sh: unknown set '$1' (use simulator, dev or nothing)" >&2; exit 2 ;;
esac
# The stamp holds "<set> <checksum of pyproject.toml and the locks>"; 0 bot, 1 simulator, 2 dev.
stamp="$VENV/.atelier-installed"
digest="$(cd "$ROOT" && cat pyproject.toml "${locks[@]}" | cksum | cut -d' ' -f1)"
have=-1 have_digest=""
if [ -f "$stamp" ]; then
    read -r have have_digest < "$stamp" || true
fi
[[ "$have" =~ ^[0-2]$ ]] || have=-1
if [ "$have_digest" = "$digest" ] && [ "$have" -ge "$want" ]; then
    exit 0
fi
# After pyproject.toml or a lock changed, a venv keeps the set it had (dev stays dev).
if [ "$have" -gt "$want" ]; then
    want=$have
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The lock's pip first: it installs the rest twice as fast as the pip a new venv comes with.
pip_pin="$(grep -o '^pip==[^ ]*' "$ROOT/${locks[$want]}" || echo pip)"
"$VENV/bin/python" -m pip install --quiet --upgrade "$pip_pin"
"$VENV/bin/python" -m pip install --quiet --no-compile --require-hashes -r "$ROOT/${locks[$want]}"
"$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
rm -f "$VENV"/.installed-*
echo "$want $digest" > "$stamp"
