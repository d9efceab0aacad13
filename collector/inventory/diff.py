"""What changed between two inventories, device by device (hot reload, issue 12).

A device is known by its id: the same id with other settings is *changed*, a new id is
*added*, a missing one *removed*. A rename is therefore a removal plus an addition: the
history, the alert engine and Prometheus see a new element (docs/reload.md says what that
means for history). "Changed" compares what polling uses (address, port, credential,
profile, timing, limits, site): two inventories whose only differences are names, notes
or coordinates change no device.
"""

from __future__ import annotations

from dataclasses import dataclass

from borderwatch.collector.inventory.models import EffectiveDeviceSettings, Inventory


@dataclass(frozen=True)
class InventoryDiff:
    """Device ids by what happened to them, plus whether the topology moved."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    # Sites, links or the device list differ: the alert topology is rebuilt and open
    # incidents are judged against the new one.
    topology_changed: bool = False
    # Sections a running service cannot swap (the Influx writer, the trap listener, the
    # alert receivers and state directory, the SNMP transport's in-flight bound, the
    # pinger's cadence and socket): they take effect at the next restart; the reload says
    # so in the log.
    restart_needed: tuple[str, ...] = ()

    @property
    def devices_changed(self) -> bool:
        """True when any device starts, stops or polls differently."""
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        """One line for the log: counts and ids, nothing secret (ids only)."""
        parts = []
        for name, ids in (("added", self.added), ("removed", self.removed),
                          ("changed", self.changed)):
            if ids:
                parts.append(f"{len(ids)} {name} ({', '.join(ids)})")
        parts.append(f"{len(self.unchanged)} unchanged")
        if self.topology_changed:
            parts.append("topology changed")
        return "; ".join(parts)


def _polling(eff: EffectiveDeviceSettings) -> tuple:
    """What polling a device depends on. The credential compares by its resolved values
    (Secret equality): a rotated community behind the same variable is a change."""
    return (eff.site_id, eff.address, eff.port, eff.profile, eff.interval, eff.timeout,
            eff.retries, eff.max_repetitions, eff.poll_deadline, eff.accept_any_source,
            eff.limits, eff.credential, eff.snmp)


def _topology(inv: Inventory) -> tuple:
    """Sites (without their devices' polling settings), device placement and links."""
    sites = tuple((s.model_dump(exclude={"devices"}),
                   tuple((d.id, d.role, tuple(i.name for i in d.interfaces))
                         for d in s.devices)) for s in inv.sites)
    return sites, tuple(link.model_dump() for link in inv.links)


def diff_inventories(old: Inventory, new: Inventory) -> InventoryDiff:
    """The difference that applying `new` over a service running `old` makes."""
    old_ids = [d.id for d in old.devices]
    new_ids = [d.id for d in new.devices]
    old_set = set(old_ids)
    new_set = set(new_ids)
    changed, unchanged = [], []
    for device_id in new_ids:
        if device_id not in old_set:
            continue
        same = _polling(old.effective(device_id)) == _polling(new.effective(device_id))
        (unchanged if same else changed).append(device_id)
    restart = []
    if old.influx != new.influx:
        restart.append("influx")
    if old.traps != new.traps:
        restart.append("traps")
    if _receivers(old) != _receivers(new):
        restart.append("alerts")
    if old.defaults.max_in_flight != new.defaults.max_in_flight:
        restart.append("defaults.max_in_flight")
    if old.defaults.icmp.model_dump(exclude={"enabled"}) != \
            new.defaults.icmp.model_dump(exclude={"enabled"}):
        restart.append("defaults.icmp")  # its targets (and `enabled`) do follow a reload
    return InventoryDiff(
        added=tuple(i for i in new_ids if i not in old_set),
        removed=tuple(i for i in old_ids if i not in new_set),
        changed=tuple(changed), unchanged=tuple(unchanged),
        topology_changed=_topology(old) != _topology(new),
        restart_needed=tuple(restart))


def _receivers(inv: Inventory) -> object:
    """The `alerts:` section without its rules file (re-read at every reload)."""
    if inv.alerts is None:
        return None
    return inv.alerts.model_dump(exclude={"rules"})
