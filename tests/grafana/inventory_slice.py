"""A few sites of the repository's inventory.yaml, readdressed onto loopback for the lab.

The Grafana query tests (Prometheus and InfluxQL) poll the same kind of slice of the real
Lạng Sơn inventory: the kept devices numbered onto consecutive 127.0.0.x addresses (each
test its own range, so they can run side by side), and the devices meant to stay dark
stripped of their sim_profile so the lab starts no agent for them.
"""

from __future__ import annotations

from typing import Any


def slice_sites(sites: list[dict[str, Any]], keep_sites: tuple[str, ...],
                keep_devices: tuple[str, ...], no_agent: tuple[str, ...],
                first_address: int) -> list[dict[str, Any]]:
    """The kept sites with only their kept devices, the n-th at 127.0.0.<first_address + n>."""
    kept = []
    n = 0
    for site in sites:
        if site["id"] not in keep_sites:
            continue
        devices = []
        for dev in site["devices"]:
            if dev["id"] not in keep_devices:
                continue
            n += 1
            dev = {**dev, "address": f"127.0.0.{first_address + n}"}
            if dev["id"] in no_agent:
                dev.pop("sim_profile", None)  # no sim_profile, no agent: it stays dark
            devices.append(dev)
        kept.append({**site, "devices": devices})
    return kept


def slice_addresses(keep_devices: tuple[str, ...], first_address: int) -> list[str]:
    """The addresses slice_sites gives the kept devices."""
    return [f"127.0.0.{first_address + n}" for n in range(1, len(keep_devices) + 1)]
