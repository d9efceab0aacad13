"""Keep Python's cyclic garbage collector from stopping the event loop for seconds.

The state of a large inventory is millions of container objects that live for a poll
interval or longer. CPython runs a full collection whenever the objects that survived
into its oldest generation have grown by a quarter; with every device's series replaced
once per interval that means several full collections per interval, each walking every
live object. Measured at 10,000 devices (bench/scale.py): about 1.1 s per full
collection, up to 3.9 s, during which no answer is read and no poll starts.

`HeapFreezer` moves what is alive into the permanent generation (`gc.freeze()`) every
`period` seconds, so a full collection walks only what was allocated since. Frozen
objects are still freed by reference counting when they die; only garbage *cycles* that
were frozen before the collector found them would stay, so the young generations are
collected just before each freeze, and every `sweep_every` seconds the heap is unfrozen
and collected once (one long pause an hour instead of several a minute).

The youngest generation keeps CPython's threshold (700 allocations). Raising it to
10,000 saved ~4 % CPU per poll at 10,000 devices, but each period's step (the young
collection before the freeze) then took 114 ms (median, up to 191 ms) instead of 4 ms,
because far more objects were young when it ran: a stall every 15 s is worse than the
CPU (measured with bench/poll_cost.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

DEFAULT_PERIOD = 15.0  # seconds between freezes
DEFAULT_SWEEP_EVERY = 3600.0  # seconds between full collections of the whole heap


class HeapFreezer:
    """Freeze the heap periodically while the service runs; unfreeze it when stopped."""

    def __init__(self, period: float = DEFAULT_PERIOD,
                 sweep_every: float = DEFAULT_SWEEP_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if period <= 0 or sweep_every < period:
            raise ValueError("need 0 < period <= sweep_every")
        self.period = period
        self.sweep_every = sweep_every
        self.clock = clock
        self.freezes = 0
        self.sweeps = 0
        self.last_sweep_seconds: float | None = None  # the pause of the latest sweep
        self._last_sweep = clock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start freezing every `period` seconds (in the running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="borderwatch-heap-freezer")

    async def stop(self) -> None:
        """Stop, and hand every frozen object back to the collector."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        gc.unfreeze()

    def sweep(self) -> float:
        """Unfreeze and collect the whole heap now; returns the pause in seconds (the
        event loop stands still meanwhile). step() calls it every `sweep_every` seconds."""
        gc.unfreeze()
        started = time.perf_counter()
        found = gc.collect()
        pause = self.last_sweep_seconds = time.perf_counter() - started
        self._last_sweep = self.clock()
        self.sweeps += 1
        log.info("heap sweep: %d unreachable objects, %.2f s with the event loop stopped",
                 found, pause)
        return pause

    def step(self) -> None:
        """One period's work: sweep when due, then collect the young and freeze."""
        if self.clock() - self._last_sweep >= self.sweep_every:
            self.sweep()
        gc.collect(1)  # young garbage (cycles included) must not be frozen
        gc.freeze()
        self.freezes += 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.step()
