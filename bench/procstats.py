"""CPU time and memory of this process, one of its threads or another process, read from
``/proc`` (psutil is not a dependency)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024


def _status(pid: int | str = "self") -> dict[str, str]:
    values: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        values[key] = value.strip()
    return values


def _kb(value: str) -> int:
    return int(value.split()[0]) * 1024


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size now (VmRSS)."""
    return _kb(_status(pid)["VmRSS"])


def peak_rss_bytes(pid: int | str = "self") -> int:
    """Highest resident set size so far (VmHWM)."""
    return _kb(_status(pid)["VmHWM"])


def _cpu_from_stat(path: str) -> float:
    text = Path(path).read_text()
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a whole process, all threads."""
    return _cpu_from_stat(f"/proc/{pid}/stat")


def thread_cpu_seconds(native_id: int) -> float:
    """User + system CPU time of one thread of this process (0 once it is gone)."""
    try:
        return _cpu_from_stat(f"/proc/self/task/{native_id}/stat")
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def thread_ids(name_prefix: str) -> list[int]:
    """Native ids of this process's live Python threads whose name starts with the prefix."""
    return [
        t.native_id
        for t in threading.enumerate()
        if t.name.startswith(name_prefix) and t.native_id is not None
    ]


def reset_peak_rss() -> bool:
    """Start VmHWM over from the current RSS (Linux ``clear_refs`` 5); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
