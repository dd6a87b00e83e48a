"""A delivery's temporary files go even when the attempt is cancelled (close())."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.discord_io import delivery


async def test_a_cancelled_cleanup_still_removes_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "atelier-job1-x"
    work.mkdir()
    (work / "result.png").write_bytes(b"\x89PNG")
    handed_off = asyncio.Event()

    async def stalled(fn: Any, *args: Any) -> None:  # the worker thread never gets to it
        handed_off.set()
        await asyncio.sleep(10)

    monkeypatch.setattr(delivery.asyncio, "to_thread", stalled)
    cleanup = asyncio.create_task(delivery.remove_tree(work))
    await handed_off.wait()
    cleanup.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cleanup
    assert not work.exists()
