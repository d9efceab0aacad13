"""Hot reload of the inventory: validate the file, then hand each part the difference.

Triggered by SIGHUP and by `POST /-/reload` (exporters/reload_api.py). One reload at a
time; a request that arrives during one waits for it and then runs on the file as it is
by then. The steps, as Prometheus does them:

1. load and validate the whole file (collector.inventory, in a worker thread so that
   polls keep their cadence); a truncated or invalid file is refused with every problem as
   `file:line: field: message`, and the running configuration stays;
2. `prepare_inventory(new)` on every part that has one: checks that need the part's own
   knowledge (the alert rules against the new sites, SNMPv3 crypto) and may refuse too;
3. `apply_inventory(new, diff)` on every part, in the order they were added: the devices
   first (sessions, poll loops, NetworkState), then the views of the state (alerts,
   history, status page) that read it.

Parts register with `Reloader.add(part)`: anything with `apply_inventory` (a coroutine
or a plain method). New components (a pinger, a trap receiver) add themselves the same
way and get the same diff (collector.inventory.diff).

`ReloadStatus` is what borderwatch_config_last_reload_successful and
borderwatch_config_last_reload_success_timestamp_seconds export (exporters/reload_metrics.py).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from borderwatch.collector.inventory import Inventory, InventoryError
from borderwatch.collector.inventory.diff import InventoryDiff, diff_inventories

log = logging.getLogger(__name__)


class InventoryPart(Protocol):
    """A part of the service that follows the inventory (may also have
    `prepare_inventory(inventory)`, which raises ValueError to refuse it)."""

    def apply_inventory(self, inventory: Inventory, diff: InventoryDiff) -> Any:
        """Make the running part match `inventory`; may be a coroutine function."""
        ...


@dataclass
class ReloadStatus:
    """The outcome of the latest reload, for the self-metrics and /-/reload."""

    successful: bool = True  # the start counts as a successful load, as in Prometheus
    success_timestamp: float = field(default_factory=time.time)  # wall clock
    reloads: int = 0  # attempts since start
    failures: int = 0
    problems: list[str] = field(default_factory=list)  # of the latest failed attempt


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload did: the diff it applied, or why it refused the file."""

    ok: bool
    diff: InventoryDiff | None = None
    problems: tuple[str, ...] = ()


class Reloader:
    """Loads the inventory again on request and applies it part by part."""

    def __init__(self, load: Callable[[], Inventory], inventory: Inventory, *,
                 source: str = "inventory", clock: Callable[[], float] = time.time) -> None:
        """`load`: reads and validates the file (raises InventoryError); `inventory`: the
        one running now; `source`: the file's name for messages."""
        self._load = load
        self.inventory = inventory
        self.source = source
        self._clock = clock
        self.status = ReloadStatus(success_timestamp=clock())
        self._parts: list[Any] = []
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[ReloadOutcome]] = set()
        self._closed = False  # the service is stopping: no reload starts any more

    def add(self, part: Any) -> None:
        """Register a part: its apply_inventory runs after those added before it."""
        self._parts.append(part)

    def request(self, reason: str) -> None:
        """Start a reload from a signal handler (not awaited; its task is owned here)."""
        if self._closed:
            log.info("reload (%s) ignored: the service is stopping", reason)
            return
        task = asyncio.get_running_loop().create_task(self.reload(reason),
                                                      name="borderwatch-reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self, reason: str = "request") -> ReloadOutcome:
        """Validate the file and apply it; never raises for a bad file (see the outcome)."""
        async with self._lock:
            if self._closed:
                return ReloadOutcome(False, problems=("the service is stopping",))
            self.status.reloads += 1
            log.info("reloading %s (%s)", self.source, reason)
            try:
                new = await asyncio.to_thread(self._load)
                for part in self._parts:
                    prepare = getattr(part, "prepare_inventory", None)
                    if prepare is not None:
                        prepare(new)
            except InventoryError as exc:
                return self._refused([str(p) for p in exc.problems])
            except ValueError as exc:  # a part refused it (alert rules, SNMPv3 crypto)
                return self._refused([f"{self.source}: {exc}"])
            diff = diff_inventories(self.inventory, new)
            log.info("reload of %s: %s", self.source, diff.summary())
            if diff.restart_needed:
                log.warning("reload of %s: changes to %s take effect at the next restart",
                            self.source, ", ".join(diff.restart_needed))
            broken = await self._apply(new, diff)
            self.inventory = new
            if broken:
                # A part that fails to apply a valid file is a bug: said, counted, and the
                # other parts still follow the file.
                return self._refused([f"{self.source}: applying failed in {', '.join(broken)} "
                                      "(see the log)"])
            self.status.successful = True
            self.status.success_timestamp = self._clock()
            self.status.problems = []
            return ReloadOutcome(True, diff)

    async def _apply(self, new: Inventory, diff: InventoryDiff) -> list[str]:
        broken = []
        for part in self._parts:
            try:
                result = part.apply_inventory(new, diff)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                name = type(part).__name__
                log.exception("reload of %s: %s could not apply it", self.source, name)
                broken.append(name)
        return broken

    def _refused(self, problems: list[str]) -> ReloadOutcome:
        self.status.successful = False
        self.status.failures += 1
        self.status.problems = problems
        log.error("reload of %s failed; the running configuration stays:\n  %s",
                  self.source, "\n  ".join(problems))
        return ReloadOutcome(False, problems=tuple(problems))

    async def close(self) -> None:
        """Wait for a reload in progress (a signal's), so shutdown never cuts one in half;
        none starts after this."""
        self._closed = True
        if self._tasks:
            await asyncio.wait(list(self._tasks))
