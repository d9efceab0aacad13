"""`HistoryService`: the history of a running collector: a tick on the event loop observes
the live state (cheap: changes only), the writer thread does the SQLite work.

Built by borderwatch/service.py for `borderwatch run` unless history is turned off
(`--no-history`); the settings travel in a `HistorySettings` (history/settings.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from borderwatch.alerts.topology import Topology
from borderwatch.history.metrics import HistoryCollector
from borderwatch.history.recorder import Recorder
from borderwatch.history.schema import HistoryError
from borderwatch.history.settings import HistorySettings
from borderwatch.history.writer import HistoryWriter

if TYPE_CHECKING:
    from borderwatch.collector.inventory import Inventory
    from borderwatch.collector.state import NetworkState
    from borderwatch.collector.topology_spec import LinkSpec

__all__ = ["HistoryError", "HistoryService", "HistorySettings"]

log = logging.getLogger(__name__)

class HistoryService:
    """Recorder + writer of one running collector; `start()` once serving, `close()` last."""

    def __init__(self, settings: HistorySettings, inventory: Inventory, state: NetworkState,
                 *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._state = state
        self._clock = clock
        self.writer = HistoryWriter(settings.path, retention=settings.retention)
        topology = _topology(inventory)
        self.recorder = Recorder(_sites(inventory), _links(state, topology),
                                 self.writer.submit, topology=topology,
                                 rollup_every=settings.rollup_every)
        self._task: asyncio.Task[None] | None = None
        self._has_links = bool(inventory.links)
        self.observe_cpu_seconds = 0.0  # on the event loop, for the self-metrics

    def apply_inventory(self, inventory: Inventory, diff: object) -> None:
        """Follow a hot reload (the state already has the new devices and links): removed
        elements end with `removed-from-inventory`, new ones are observed at once."""
        topology = _topology(inventory)
        self.recorder.set_topology(_sites(inventory), _links(self._state, topology),
                                   topology, self._clock())
        self._has_links = bool(inventory.links)
        self.observe()

    def open(self) -> None:
        """Lock and open the file (raises HistoryError: locked, corrupt, not a history)."""
        now = self._clock()
        self.writer.open(now)
        # at once, so the run has no instant without a record: nothing is polled yet
        self.recorder.observe(self._state.device_snapshots(),
                              self._state.link_snapshots() if self._has_links else [], now)
        log.info("history: recording to %s", self.settings.path)

    def collector(self) -> HistoryCollector:
        """The writer's self-metrics, for the service's registry."""
        return HistoryCollector(self.writer, lambda: self.observe_cpu_seconds)

    def start(self) -> None:
        """Begin observing (the first observation is immediate: not-polled-yet states)."""
        self._task = asyncio.create_task(self._loop(), name="borderwatch-history")

    def observe(self) -> None:
        """One observation of the live state (its CPU time counted in `observe_cpu_seconds`)."""
        started = time.thread_time()
        state = self._state
        # link_snapshots() re-checks every device's staleness: skipped when there are none
        links = state.link_snapshots() if self._has_links else []
        self.recorder.observe(state.device_snapshots(), links, self._clock())
        self.observe_cpu_seconds += time.thread_time() - started

    async def _loop(self) -> None:
        while True:
            try:
                self.observe()
            except Exception:  # a bug here must not stop the collector; logged, retried
                log.exception("history: observing the state failed")
            await asyncio.sleep(self.settings.tick)

    async def close(self) -> None:
        """Stop observing, write a last observation and the partial hour, close the file."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            with contextlib.suppress(Exception):
                self.observe()
        self.recorder.stop()
        await asyncio.to_thread(self.writer.close, self._clock())


def _topology(inventory: Inventory) -> Topology | None:
    """The inventory's topology; None without a core site (reachability has no origin)."""
    try:
        return Topology.from_inventory(inventory)
    except ValueError as exc:
        log.warning("history: sites are recorded without isolation: %s", exc)
        return None


def _sites(inventory: Inventory) -> dict[str, list[str]]:
    return {s.id: [d.id for d in s.devices] for s in inventory.sites}


def _links(state: NetworkState, topology: Topology | None) -> list[LinkSpec]:
    if topology is not None:
        return list(topology.links.values())
    return [lk.spec for lk in state.link_snapshots()]
