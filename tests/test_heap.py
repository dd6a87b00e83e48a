"""heap.settle: start-up's survivors frozen, and a later settle lets go of what died."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot import heap


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test run collects as usual


class Node:
    """An object in a reference cycle: only the cycle collector can free it."""

    def __init__(self) -> None:
        self.me = self


def test_settle_freezes_what_is_alive() -> None:
    alive = Node()
    frozen = heap.settle()
    assert frozen == gc.get_freeze_count() > 0
    assert not any(o is alive for o in gc.get_objects())  # out of every generation


def test_a_later_settle_frees_a_cycle_that_died_while_frozen() -> None:
    cycle = Node()
    gone = weakref.ref(cycle)
    heap.settle()
    del cycle
    gc.collect()
    assert gone() is not None  # frozen: a full collection does not look at it
    heap.settle()
    assert gone() is None  # unfrozen first, so the dead cycle was collected
