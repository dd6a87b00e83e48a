"""Where delivery's files go: its settings, one result file fetched to disk, and the
temporary folder an attempt works in."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from bot.maxapi import download as dl
from bot.text.delivery_plan import Outcome, ResultFile

log = logging.getLogger(__name__)

#: Files over this are links even in a guild whose limit is higher (disk, time).
HARD_DOWNLOAD_CAP = 100 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """Delivery's limits and timings; ``allowed_hosts`` skip the private-address check."""

    allowed_hosts: frozenset[str] = frozenset()
    concurrency: int = 4  # downloads at once (posting is paced by Discord's buckets)
    batch: int = 200  # due jobs read at once
    download_time_limit: float = 120.0
    max_download_bytes: int = HARD_DOWNLOAD_CAP
    #: How long a claimed attempt keeps its job, renewed before each file and each post;
    #: ``None``: the cluster's lease (a dead process's deliveries are taken over after it).
    lease: float | None = None
    backoff_base: float = 5.0
    backoff_cap: float = 900.0
    download_retries: int = 4  # attempts that may fail to download before a file is linked
    history_limit: int = 200
    temp_dir: Path | None = None
    max_sleep: float = 300.0

    @classmethod
    def for_api(cls, maxapi_base_url: str) -> DeliveryConfig:
        """Downloads may reach the Max API host even when it is local (the simulator)."""
        host = urlsplit(maxapi_base_url).hostname
        return cls(allowed_hosts=frozenset({host} if host else ()))


# -- result files on disk ------------------------------------------------------------------


async def fetch_result(
    session: aiohttp.ClientSession,
    config: DeliveryConfig,
    job_id: int,
    index: int,
    url: str,
    workdir: Path,
    cap: int,
) -> ResultFile:
    """One result file downloaded, or what became of it (too big, gone, not media); a
    transient failure raises :class:`bot.maxapi.download.NetworkError`."""
    try:
        got = await dl.download(
            session,
            url,
            workdir,
            f"result-{index + 1}",
            max_bytes=cap,
            time_limit=config.download_time_limit,
            allowed_hosts=config.allowed_hosts,
        )
    except dl.TooBig as exc:
        return ResultFile(index, url, Outcome.TOO_BIG, size=exc.size)
    except dl.LinkDead:
        return ResultFile(index, url, Outcome.GONE)
    except (dl.NotMedia, dl.Refused) as exc:
        log.warning("job %s: result %d not attachable: %s", job_id, index + 1, exc)
        return ResultFile(index, url, Outcome.NOT_MEDIA)
    return ResultFile(index, url, Outcome.FILE, size=got.size, path=got.path)


def make_workdir(prefix: str, parent: Path | None) -> Path:
    """A new temporary folder, made on the loop (one mkdir): made in a thread, a cancel
    arriving meanwhile would leave it behind."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


async def remove_tree(path: Path) -> None:
    """Remove a temporary folder off the loop; if cancelled meanwhile, finish on the loop."""
    try:
        await asyncio.to_thread(shutil.rmtree, path, True)
    except asyncio.CancelledError:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
