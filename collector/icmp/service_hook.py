"""`build_pinger`: the pinger of `borderwatch run`, wired to state (kept out of service.py).

Every round goes to `NetworkState.apply_icmp` (state changes are logged like poll events),
then to the listeners (the Influx writer) with the device's new ICMP snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from collector.icmp.pinger import Pinger, PingTarget
from collector.icmp.settings import IcmpSettings
from collector.icmp.stats import IcmpRound, IcmpSnapshot
from collector.inventory.models import EffectiveDeviceSettings, IcmpDefaults
from collector.state import Event, NetworkState

# (round, the device's snapshot after it, site id); quick, must not raise
RoundListener = Callable[[IcmpRound, IcmpSnapshot, str], None]


@dataclass
class IcmpHook:
    """The running pinger and what its rounds feed."""

    pinger: Pinger
    listeners: list[RoundListener] = field(default_factory=list)


def settings_of(d: IcmpDefaults) -> IcmpSettings:
    """IcmpSettings from the inventory's `defaults.icmp`."""
    return IcmpSettings(interval=d.interval, count=d.count, timeout=d.timeout,
                        window=d.window, max_in_flight=d.max_in_flight, socket=d.socket)


def build_pinger(devices: Iterable[EffectiveDeviceSettings], settings: IcmpSettings,
                 state: NetworkState, log_event: Callable[[Event], None]) -> IcmpHook | None:
    """The pinger for every device with `icmp` on (None if there is none); not started."""
    pinged = [d for d in devices if d.icmp]
    if not pinged:
        return None
    sites = {d.device_id: d.site_id for d in pinged}

    def on_round(r: IcmpRound) -> None:
        for event in state.apply_icmp(r):
            log_event(event)
        snap = state.device(r.device_id)
        if snap is None or snap.icmp is None:
            return  # left the topology
        for listener in hook.listeners:
            listener(r, snap.icmp, sites.get(r.device_id, ""))

    hook = IcmpHook(Pinger([PingTarget(d.device_id, d.address) for d in pinged], settings,
                           on_round, clock=state.now))
    return hook
