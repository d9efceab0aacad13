"""The devices' side of a hot reload: sessions, poll loops, counters and NetworkState.

Only the devices the diff names are touched. An unchanged device keeps its session, its
poll loop (so its ticks stay where they were: no gap, no extra poll), its counters and its
state. A removed device's loop and poll in flight are cancelled and awaited, its session
closed, and its series leave /metrics with it (state, scheduler and poll counters forget
it). A changed device gets a new session and loop; it keeps its counters and its state
(rates continue, reachability too) unless it moved to another site, which makes it a new
element of the topology. An added device starts on its usual tick grid, as after a restart.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from borderwatch.collector.inventory import EffectiveDeviceSettings, Inventory
from borderwatch.collector.inventory.diff import InventoryDiff
from borderwatch.collector.scheduler import DeviceStats, Job
from borderwatch.collector.snmp.types import SnmpError
from borderwatch.collector.timeout_state import timing_of
from borderwatch.collector.topology_spec import DeviceSpec, LinkSpec

if TYPE_CHECKING:
    from borderwatch.service import DeviceRuntime, Service

log = logging.getLogger(__name__)

# (settings, the device's running totals or None for a new device) -> its live parts
RuntimeFactory = Callable[[EffectiveDeviceSettings, Any], "DeviceRuntime"]


class DeviceReloader:
    """Applies an inventory diff to the running service's devices."""

    def __init__(self, service: Service, *, runtime: RuntimeFactory,
                 links: Callable[[Inventory], list[LinkSpec]],
                 check: Callable[[Inventory], None],
                 spec: Callable[[EffectiveDeviceSettings], DeviceSpec]) -> None:
        """`runtime` opens a device's session (borderwatch.service builds it); `links`: the
        inventory's links as state sees them; `check` raises SnmpError for an inventory
        this process cannot poll (SNMPv3 privacy without its crypto library); `spec`: a
        device as state sees it (ICMP-only devices too, which have no runtime)."""
        self._service = service
        self._runtime = runtime
        self._links = links
        self._check = check
        self._spec = spec

    def prepare_inventory(self, inventory: Inventory) -> None:
        """Refuse an inventory this process cannot poll (ValueError)."""
        try:
            self._check(inventory)
        except SnmpError as exc:
            raise ValueError(str(exc)) from None

    async def apply_inventory(self, inventory: Inventory, diff: InventoryDiff) -> None:
        """Stop removed devices, restart changed ones, start added ones, and hand the new
        device and link lists to the NetworkState (removed devices vanish from it)."""
        service = self._service
        kept: dict[str, DeviceStats | None] = {}
        for device_id in (*diff.removed, *diff.changed):
            runtime = service.devices.pop(device_id, None)
            if runtime is not None:  # an ICMP-only device has no session nor poll loop
                kept[device_id] = await service.scheduler.remove(device_id)
                try:
                    await runtime.session.close()
                except Exception:  # one broken session must not stop the reload
                    log.exception("closing the session of %s failed", device_id)
            if device_id in diff.removed:
                service.poll_counters.pop(device_id, None)
                service.device_sites.pop(device_id, None)
                service.timings.pop(device_id, None)
                service.first_round.discard(device_id)
        for device_id in (*diff.changed, *diff.added):
            eff = inventory.effective(device_id)
            service.device_sites[device_id] = eff.site_id
            if not eff.snmp:
                continue  # pinged only (collector/icmp follows the reload on its own)
            runtime = self._runtime(eff, service.poll_counters.get(device_id))
            runtime.counters.site = eff.site_id
            service.devices[device_id] = runtime
            service.poll_counters[device_id] = runtime.counters
            timing = timing_of(runtime.session)
            if timing is not None:
                service.timings[device_id] = timing
            else:
                service.timings.pop(device_id, None)
        # `devices` keeps the inventory's order, and so does the state
        service.devices = {d.id: service.devices[d.id] for d in inventory.devices
                           if d.id in service.devices}
        # The state before the loops: the first poll of an added device must find it there.
        # Every device is in it, ICMP-only ones too (their ping rounds are their polls).
        service.state.set_topology([self._spec(inventory.effective(d.id))
                                    for d in inventory.devices], self._links(inventory))
        service.inventory = inventory
        for device_id in (*diff.changed, *diff.added):
            if device_id not in service.devices:
                continue  # ICMP-only
            eff = service.devices[device_id].settings
            service.scheduler.add(
                Job(device_id=device_id, interval=eff.interval,
                    poll_deadline=eff.poll_deadline,
                    poll=functools.partial(service.poll_device, device_id), site=eff.site_id),
                stats=kept.get(device_id))
