"""`build_pinger`: the pinger of `borderwatch run`, wired to state (kept out of service.py).

Every round goes to `NetworkState.apply_icmp` (state changes are logged like poll events),
then to the listeners (the Influx writer) with the device's new ICMP snapshot. The hook is
also the pinger's part of a hot reload (collector/reload.py): it is built even when no
device is pinged yet, so that a reload can add the first one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from borderwatch.collector.icmp.pinger import Pinger, PingTarget
from borderwatch.collector.icmp.settings import IcmpSettings
from borderwatch.collector.icmp.stats import IcmpRound, IcmpSnapshot
from borderwatch.collector.inventory.diff import InventoryDiff
from borderwatch.collector.inventory.models import EffectiveDeviceSettings, IcmpDefaults, Inventory
from borderwatch.collector.state import Event, NetworkState

# (round, the device's snapshot after it, site id); quick, must not raise
RoundListener = Callable[[IcmpRound, IcmpSnapshot, str], None]


@dataclass
class IcmpHook:
    """The running pinger, what its rounds feed, and how it follows a reload."""

    pinger: Pinger
    state: NetworkState
    sites: dict[str, str] = field(default_factory=dict)  # device id -> site id
    listeners: list[RoundListener] = field(default_factory=list)

    def on_round(self, r: IcmpRound, log_event: Callable[[Event], None]) -> None:
        """Fold a round into state, then hand it to the listeners."""
        for event in self.state.apply_icmp(r):
            log_event(event)
        snap = self.state.device(r.device_id)
        if snap is None or snap.icmp is None:
            return  # left the topology
        for listener in self.listeners:
            listener(r, snap.icmp, self.sites.get(r.device_id, ""))

    def apply_inventory(self, inventory: Inventory, diff: InventoryDiff) -> None:
        """Ping the new inventory's devices: added ones from the next interval, removed
        ones (or those now `icmp: false`) no more, a changed address at its new address.
        Runs after the devices' part, so that state already knows added devices; a device
        that stops being pinged, or moves, loses its ICMP statistics (no old-address RTT
        or loss in the new address's series)."""
        del diff  # the targets are compared directly: `icmp` on/off is not a polling change
        devices = [inventory.effective(d.id) for d in inventory.devices]
        new = targets_of(devices)
        old = {t.device_id: t for t in self.pinger.targets}
        wanted = {t.device_id: t for t in new}
        for device_id, target in old.items():
            if wanted.get(device_id) != target:
                self.state.forget_icmp(device_id)
        self.sites = {d.device_id: d.site_id for d in devices if d.icmp}
        self.pinger.set_targets(new)


def settings_of(d: IcmpDefaults) -> IcmpSettings:
    """IcmpSettings from the inventory's `defaults.icmp`."""
    return IcmpSettings(interval=d.interval, count=d.count, timeout=d.timeout,
                        window=d.window, max_in_flight=d.max_in_flight, socket=d.socket)


def targets_of(devices: Iterable[EffectiveDeviceSettings]) -> list[PingTarget]:
    """What to ping: every device with `icmp` on, in inventory order."""
    return [PingTarget(d.device_id, d.address) for d in devices if d.icmp]


def build_pinger(devices: Iterable[EffectiveDeviceSettings], settings: IcmpSettings,
                 state: NetworkState, log_event: Callable[[Event], None]) -> IcmpHook:
    """The pinger for every device with `icmp` on (possibly none yet); not started."""
    devices = list(devices)
    hook: IcmpHook | None = None

    def on_round(r: IcmpRound) -> None:
        assert hook is not None
        hook.on_round(r, log_event)

    hook = IcmpHook(Pinger(targets_of(devices), settings, on_round, clock=state.now), state,
                    {d.device_id: d.site_id for d in devices if d.icmp})
    return hook
