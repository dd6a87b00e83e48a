"""``python -m bot.healthcheck``: exit 0 when the bot in this container is alive.

Why a heartbeat file rather than an HTTP probe: the callback listener (``/healthz``)
only runs when ``WEBHOOK_PUBLIC_URL`` is set, and a gateway-only bot has no port at
all. The running bot rewrites ``<database folder>/heartbeat`` every
:data:`HEARTBEAT_EVERY` seconds from its event loop, so a fresh file proves the loop
is turning (a hung or deadlocked bot stops writing). When the listener is on, its
``/healthz`` must answer too. Reads only the environment (no token needed, nothing
logged), so it is cheap enough to run every 30 s.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from dotenv import load_dotenv

from bot.settings import DEFAULT_DATABASE_PATH, DEFAULT_WEBHOOK_LISTEN

HEARTBEAT_NAME = "heartbeat"
HEARTBEAT_EVERY = 10.0  # seconds between writes
STALE_AFTER = 60.0  # a heartbeat older than this means the bot is stuck or gone


def heartbeat_path(database_path: Path) -> Path:
    """The heartbeat file lives next to the database, on the same volume."""
    return database_path.parent / HEARTBEAT_NAME


def write_heartbeat(path: Path, now: float) -> None:
    """Write ``now`` atomically (a reader never sees a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{now:.3f}\n")
    os.replace(tmp, path)


def read_heartbeat(path: Path) -> float | None:
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _listen_url(listen: str) -> str:
    host, _, port = listen.strip().rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def check(env: Mapping[str, str], now: float | None = None) -> tuple[bool, str]:
    """(healthy, one line saying why) for the bot configured by ``env``."""
    now = time.time() if now is None else now
    database = Path(env.get("DATABASE_PATH", "").strip() or DEFAULT_DATABASE_PATH)
    path = heartbeat_path(database)
    beat = read_heartbeat(path)
    if beat is None:
        return False, f"no heartbeat at {path} (not started yet, or not running)"
    age = now - beat
    if age > STALE_AFTER:
        return False, f"heartbeat at {path} is {age:.0f} s old (limit {STALE_AFTER:.0f} s)"
    if env.get("WEBHOOK_PUBLIC_URL", "").strip():
        url = _listen_url(env.get("WEBHOOK_LISTEN", "").strip() or DEFAULT_WEBHOOK_LISTEN)
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status != 200:
                    return False, f"{url} answered {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            return False, f"{url} did not answer: {exc}"
    return True, f"ok (heartbeat {max(age, 0.0):.0f} s ago)"


def main() -> int:
    load_dotenv(Path.cwd() / ".env", override=False)  # as ``python -m bot`` does
    healthy, why = check(os.environ)
    print(f"atelier: {why}", file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
