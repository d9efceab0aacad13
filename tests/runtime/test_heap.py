"""collector.heap.HeapFreezer: what it freezes, that frozen cycles are swept, that stopping
gives everything back to the collector (the gc state is process-wide: each test unfreezes)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from runtime_helpers import wait_until

from borderwatch.collector.heap import HeapFreezer


class Node:
    """A container the cyclic collector tracks (and that can take a weak reference)."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def garbage_cycle() -> weakref.ref[Node]:
    """Two objects that only reference each other: only the cyclic collector frees them."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.collect()  # let them age into the oldest generation while still referenced ...
    ref = weakref.ref(a)
    gc.freeze()  # ... and be frozen alive, as a period's freeze would catch them
    return ref


def test_a_step_freezes_what_is_alive_and_collects_young_garbage_first() -> None:
    keep = [Node() for _ in range(100)]
    young = Node()
    young.other = young  # a young garbage cycle: must be collected, not frozen
    ref = weakref.ref(young)
    del young
    freezer = HeapFreezer(period=1, sweep_every=10, clock=lambda: 0.0)
    freezer.step()
    assert ref() is None
    assert gc.get_freeze_count() >= len(keep)
    assert freezer.freezes == 1 and freezer.sweeps == 0


def test_a_frozen_garbage_cycle_survives_until_the_sweep() -> None:
    now = [0.0]
    freezer = HeapFreezer(period=1, sweep_every=10, clock=lambda: now[0])
    ref = garbage_cycle()
    now[0] = 5.0
    freezer.step()
    gc.collect()
    assert ref() is not None, "a frozen cycle is invisible to full collections"
    now[0] = 10.0
    freezer.step()  # the sweep: unfreeze, collect everything, freeze again
    assert ref() is None
    assert freezer.sweeps == 1 and gc.get_freeze_count() > 0


async def test_stop_hands_everything_back() -> None:
    freezer = HeapFreezer(period=0.01, sweep_every=60)
    freezer.start()
    await wait_until(lambda: freezer.freezes >= 2, 30, "two freezes")
    assert gc.get_freeze_count() > 0
    await freezer.stop()
    assert gc.get_freeze_count() == 0


def test_a_forced_sweep_reports_its_pause() -> None:
    freezer = HeapFreezer(period=1, sweep_every=10, clock=lambda: 0.0)
    ref = garbage_cycle()
    pause = freezer.sweep()
    assert ref() is None and gc.get_freeze_count() == 0
    assert pause >= 0 and freezer.last_sweep_seconds == pause and freezer.sweeps == 1


def test_bad_periods_are_refused() -> None:
    with pytest.raises(ValueError):
        HeapFreezer(period=0)
    with pytest.raises(ValueError):
        HeapFreezer(period=10, sweep_every=5)
