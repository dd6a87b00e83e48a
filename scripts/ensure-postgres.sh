#!/usr/bin/env bash
# Make PostgreSQL's server programs (initdb, pg_ctl) available for the tests, which start a
# throwaway server of their own on 127.0.0.1 (tests/helpers/postgres.py). Installs Debian's
# 'postgresql' package when they are missing and this user may; otherwise says the
# PostgreSQL tests will be skipped (under CI they fail instead).
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postgres: installing Debian's postgresql package for the tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    exit 0
fi
echo "ensure-postgres: no PostgreSQL server programs here and no way to install them;" \
    "the PostgreSQL tests will be skipped (install the 'postgresql' package)" >&2
