#!/usr/bin/env bash
# Install what the tests need from requirements-dev.lock (first run only) and PostgreSQL's
# server programs (the tests start their own server), then run the whole suite with pytest.
# Extra arguments go to pytest, e.g. scripts/test.sh tests/domain/test_catalog.py -q
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh" dev
"$ROOT/scripts/ensure-postgres.sh"
cd "$ROOT"
exec "${ATELIER_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
