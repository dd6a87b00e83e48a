"""A throwaway PostgreSQL for the test run: ``initdb`` into a temporary folder, started on
127.0.0.1 with a free port, a new database for each test, stopped at the end.

``ATELIER_TEST_DATABASE_URL`` points the tests at a server of your own instead (its user
must be allowed to create databases). Without either, PostgreSQL tests skip with the
reason; under CI (``CI`` set) they fail instead, so CI never passes without them.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

#: Why PostgreSQL tests cannot run here, when they cannot.
NOT_AVAILABLE = (
    "no PostgreSQL server binaries (initdb, pg_ctl) on this machine: install Debian's "
    "'postgresql' package or set ATELIER_TEST_DATABASE_URL"
)


def _bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: on PATH, else Debian's versioned folder."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster for the whole run; :meth:`new_database` gives each test its
    own empty database (a URL)."""

    def __init__(self, url: str, stop: list[list[str]] | None = None) -> None:
        self.url = url  # the maintenance database (``postgres``)
        self._stop = stop or []
        self._names = itertools.count(1)

    @classmethod
    def available(cls) -> bool:
        return bool(os.environ.get("ATELIER_TEST_DATABASE_URL")) or _bindir() is not None

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[PostgresServer]:
        own = os.environ.get("ATELIER_TEST_DATABASE_URL")
        if own:
            yield cls(own)
            return
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError(NOT_AVAILABLE)
        folder = Path(tempfile.mkdtemp(prefix="atelier-pg-"))
        data = folder / "data"
        # initdb refuses to run as root: as root, the cluster belongs to 'postgres'.
        as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(folder, user.pw_uid, user.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        port = _free_port()
        subprocess.run(
            [
                *as_user,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--auth=trust",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
        subprocess.run(
            [*pg_ctl, "-o", options, "-l", str(folder / "log"), "-w", "start"],
            check=True,
            capture_output=True,
        )
        try:
            yield cls(f"postgresql://postgres@127.0.0.1:{port}/postgres")
        finally:
            subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
            shutil.rmtree(folder, ignore_errors=True)

    def new_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"atelier_test_{os.getpid()}_{next(self._names)}_{int(time.time() * 1000)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{name}"))
