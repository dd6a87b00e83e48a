"""Keep the garbage collector's full passes short once the bot is up.

A full (generation 2) collection walks every tracked object. After start-up that is
some 65,000 long-lived ones (modules, the command tree, discord.py's caches, the
catalogue), and the walk took 40–47 ms: a burst of slash commands that met one waited
that much longer for its answers. :func:`settle` collects once and then freezes
what is left (``gc.freeze``), so later full passes walk only what the bot made since
(a few thousand objects: 2–5 ms).

Run on every ``on_ready`` of ``python -m bot`` (:func:`on_ready`): a reconnect rebuilds
discord.py's caches, and the old ones would otherwise stay frozen forever, so it
unfreezes, collects, freezes again. Not in the test suite's in-process bots: there each
ready would walk the whole test run's heap.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def settle() -> int:
    """Collect, then freeze the survivors; return how many objects are frozen."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    took = (time.perf_counter() - started) * 1000
    log.info("heap settled: %d objects frozen in %.0f ms", frozen, took)
    return frozen


async def on_ready() -> None:
    """The ``on_ready`` listener ``python -m bot`` adds."""
    settle()
