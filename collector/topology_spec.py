"""What poller and state need to know about devices and links, independent of the inventory.

The service maps `collector.inventory` models into these two small dataclasses, so the
poller and `collector.state` never import the inventory (and its pydantic models).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from borderwatch.collector.poll_limits import PollLimits

AUTO: Literal["auto"] = "auto"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One polled device as poller and state see it.

    `address` is only a label for messages and metrics ("127.0.0.5:161"); the SNMP session
    carries the real endpoint. `profiles` is "auto" or the profile names to run, in order
    ("system" is always run first, whether listed or not). `interval` is the poll interval
    in seconds: state uses it for staleness (series vanish after a few missed intervals).
    `limits` overrides the poll's bounds derived from the profiles (collector.poll_limits).
    """

    device_id: str
    site_id: str
    address: str = ""
    profiles: Sequence[str] | Literal["auto"] = AUTO
    interval: float = 60.0
    limits: PollLimits = field(default_factory=PollLimits)
    # False: an ICMP-only device; its ping rounds are its polls (collector.state.apply_icmp)
    snmp: bool = True


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """A transmission link between two device interfaces (interfaces named by ifName).

    Capacities are in bits/s. `capacity_bps` is the nominal capacity per direction; when
    `capacity_up_bps` is set the link is asymmetric and `capacity_up_bps` is the capacity
    of the a → b direction (the a end is the remote terminal, as for a VSAT link whose
    uplink goes from the border site to the hub), `capacity_bps` that of b → a.
    """

    link_id: str
    a_site: str
    a_device: str
    a_interface: str
    b_site: str
    b_device: str
    b_interface: str
    medium: str = "fiber"
    capacity_bps: float | None = None
    capacity_up_bps: float | None = None

    def other_site(self, site_id: str) -> str:
        """The site at the other end from `site_id`."""
        return self.b_site if site_id == self.a_site else self.a_site

    def capacity(self, direction: str) -> float | None:
        """Capacity in bits/s of direction "a_to_b" or "b_to_a" (see the class docstring)."""
        if direction == "a_to_b" and self.capacity_up_bps:
            return self.capacity_up_bps
        return self.capacity_bps
