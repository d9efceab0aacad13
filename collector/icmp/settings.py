"""`IcmpSettings`: what the pinger needs, independent of the inventory models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Privilege = Literal["auto", "raw", "unprivileged"]


@dataclass(frozen=True)
class IcmpSettings:
    """The pinger's process-wide settings (the inventory's `defaults.icmp`)."""

    interval: float = 30.0  # seconds between two rounds of one device
    count: int = 3  # echo requests per round (a round answers if any of them does)
    spacing: float = 0.2  # seconds between the requests of one round
    timeout: float = 2.0  # seconds to wait for one reply (VSAT: ~0.6 s round trip)
    window: int = 10  # rounds that loss, average RTT and jitter are computed over
    max_in_flight: int = 256  # rounds running at once, whatever the number of devices
    socket: Privilege = "auto"  # auto: unprivileged if the sysctl allows, else raw
