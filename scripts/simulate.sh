#!/usr/bin/env bash
# Install the simulator's extra (Pillow; first run only) and start the Max API simulator.
# Arguments go to it: scripts/simulate.sh --speed 0.1, scripts/simulate.sh --help.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh" simulator
cd "$ROOT"
exec "${ATELIER_VENV:-$ROOT/.venv}/bin/python" -m bot simulate "$@"
