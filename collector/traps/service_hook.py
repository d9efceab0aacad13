"""`TrapService`: the receiver wired into a running service.

For each authenticated trap: its meaning (collector.traps.mapping) goes into the state at
once (NetworkState.apply_trap, marked trap-sourced), the events are logged, the alert
engine is nudged to evaluate now, and the scheduler polls the device out of cadence to
confirm (or correct) what the trap said. The receiver knows none of these parts; this
module is the only place that joins them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from borderwatch.collector.inventory import EffectiveDeviceSettings, Inventory
from borderwatch.collector.inventory.models import Traps
from borderwatch.collector.scheduler import Scheduler
from borderwatch.collector.state import Event, NetworkState
from borderwatch.collector.traps.mapping import MAPPED_NAMES, meaning
from borderwatch.collector.traps.message import Trap, TrapCredential
from borderwatch.collector.traps.metrics import TrapCollector
from borderwatch.collector.traps.receiver import Source, TrapReceiver
from borderwatch.collector.traps.usm_receiver import UsmReceiver, default_engine_id

log = logging.getLogger(__name__)


class TrapService:
    """Receiver + the trap → state → alerts → confirming poll chain of one service."""

    def __init__(self, config: Traps, devices: Mapping[str, EffectiveDeviceSettings],
                 state: NetworkState, scheduler: Scheduler, *,
                 log_event: Callable[[Event], None], alerts: Any = None,
                 engine_of: Callable[[str], bytes | None] | None = None) -> None:
        """`engine_of`: a device's SNMPv3 engine ID as its polls discovered it (v3 traps
        must carry it; collector/traps/receiver.py)."""
        self.config = config
        self.state = state
        self.scheduler = scheduler
        self.alerts = alerts
        self._log_event = log_event
        engine_id = bytes.fromhex(config.engine_id) if config.engine_id \
            else default_engine_id(config.listen)
        self.usm = UsmReceiver(engine_id)
        self.receiver = TrapReceiver(_sources(devices.values()), self.on_trap, self.usm,
                                     rate=config.rate_per_source, burst=config.burst,
                                     queue=config.queue, engine_of=engine_of,
                                     on_mismatch=scheduler.poll_now)
        self.address: tuple[str, int] | None = None  # bound address, once started

    @property
    def stats(self) -> Any:
        """The receiver's counters (collector.traps.receiver.TrapStats)."""
        return self.receiver.stats

    def collector(self) -> TrapCollector:
        """The receiver's families for the service's registry."""
        stats = self.scheduler.stats
        return TrapCollector(self.receiver.stats, self.state,
                             lambda d: stats[d].extra_polls if d in stats else 0)

    async def start(self) -> None:
        """Bind the socket (OSError if it cannot) and start receiving."""
        host, _, port = self.config.listen.rpartition(":")
        self.address = await self.receiver.start(host.strip("[]"), int(port))
        log.info("receiving SNMP traps and informs on udp %s:%d (engine ID %s)",
                 *self.address, self.usm.engine_id.hex())

    def apply_inventory(self, inventory: Inventory, diff: object = None) -> None:
        """Follow a hot reload (collector/reload.py): traps are accepted from the new
        devices' addresses with their current credentials; a removed device's are not."""
        self.receiver.sources = _sources(inventory.effective(d) for d in inventory.devices)

    async def close(self) -> None:
        """Stop receiving (the first input to stop at shutdown)."""
        await self.receiver.close()

    def on_trap(self, device_id: str, trap: Trap, received: float) -> None:
        """State now, alerts now, a confirming poll now."""
        what = meaning(trap)
        name = what.name if what.name in MAPPED_NAMES else "other"  # bounded label values
        self.receiver.stats.traps[(name, trap.version, trap.pdu)] += 1
        events = self.state.apply_trap(device_id, what.updates,
                                       f"{what.describe()} (v{trap.version} {trap.pdu})",
                                       reboot=what.reboot)
        for event in events:
            self._log_event(event)
        if self.alerts is not None and what.updates:
            self.alerts.nudge()
        self.scheduler.poll_now(device_id)


def _sources(devices: Iterable[EffectiveDeviceSettings]) -> dict[str, Source]:
    """Devices by address (what a datagram's source is matched against). Host names are
    not resolved here: a device known by name cannot send accepted traps (README)."""
    out: dict[str, Source] = {}
    for eff in devices:
        out.setdefault(eff.address, Source(eff.device_id, TrapCredential.of(eff)))
    return out
