"""A small Lạng Sơn network for the status page tests: four sites in a chain, each with its
own v2c community from the environment (a canary the tests look for in every output).

    core-ls (core) ── L1 ── hub-dd (hub) ── L2 ── bp-tl (border_post)
        └──────────── L3 ── xa-yt (commune)

Devices point at whatever endpoints the test gives (real snmpd, or a UDP proxy in front of it).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

SITES: list[dict[str, Any]] = [
    {"id": "core-ls", "name": "Trung tâm điều hành Lạng Sơn", "name_en": "Lang Son NOC",
     "kind": "core", "commune": "phường Tam Thanh", "lat": 21.853, "lon": 106.761,
     "devices": ["ls-core1"]},
    {"id": "hub-dd", "name": "Nút truyền dẫn Đồng Đăng", "name_en": "Dong Dang hub",
     "kind": "hub", "commune": "xã Đồng Đăng", "lat": 21.938, "lon": 106.705,
     "devices": ["dd-agg1"]},
    {"id": "bp-tl", "name": "Đồn Biên phòng Thanh Lòa", "name_en": "Thanh Loa border guard post",
     "kind": "border_post", "commune": "xã Ba Sơn", "lat": 21.9705, "lon": 106.7065,
     "devices": ["bptl-sw1"]},
    {"id": "xa-yt", "name": "Trạm xã Yên Trạch", "name_en": "Yen Trach commune",
     "kind": "commune", "commune": "xã Yên Trạch", "devices": ["yt-sw1", "yt-ups1"]},
    # no lat/lon: the page names it under the map instead of drawing it
]
LINKS = [("L1", "core-ls", "ls-core1", "hub-dd", "dd-agg1"),
         ("L2", "hub-dd", "dd-agg1", "bp-tl", "bptl-sw1"),
         ("L3", "core-ls", "ls-core1", "xa-yt", "yt-sw1")]
DEVICES = [d for s in SITES for d in s["devices"]]
INTERFACE = "lo"  # snmpd on Linux always has it, so links get a real interface state


def env_var(device_id: str) -> str:
    """The variable holding a device's community."""
    return "BW_STATUS_" + device_id.upper().replace("-", "_")


def canaries() -> dict[str, str]:
    """One fresh canary community per device, keyed by device id."""
    return {d: f"canary-{d}-{secrets.token_hex(6)}" for d in DEVICES}


def write_inventory(path: Path, endpoints: Mapping[str, tuple[str, int]],
                    defaults: Mapping[str, Any] | None = None,
                    profile: list[str] | None = None,
                    interfaces: Mapping[str, str] | None = None) -> Path:
    """The inventory with each device at endpoints[device_id]; links end on each device's
    interfaces[device_id] (default INTERFACE)."""
    iface = {d: (interfaces or {}).get(d, INTERFACE) for d in DEVICES}
    sites = []
    for site in SITES:
        devices = []
        for device_id in site["devices"]:
            host, port = endpoints[device_id]
            devices.append({"id": device_id, "address": host, "port": port,
                            "credential": device_id, "profile": profile or ["system", "if-mib"],
                            "interfaces": [iface[device_id]]})
        sites.append({**{k: v for k, v in site.items() if k != "devices"}, "devices": devices})
    links = [{"id": lid, "a": {"site": a_site, "device": a_dev, "interface": iface[a_dev]},
              "b": {"site": b_site, "device": b_dev, "interface": iface[b_dev]},
              "medium": "fiber", "capacity_mbps": 1000}
             for lid, a_site, a_dev, b_site, b_dev in LINKS]
    data = {"schema_version": 1,
            "credentials": {d: {"version": "2c", "community_env": env_var(d)} for d in DEVICES},
            # not pinged: a blackholed proxy silences the agent, but loopback still answers
            # ping, and a failed node must look like one (tests/icmp covers ping)
            "defaults": {**(defaults or {"interval": 60, "timeout": 1.0, "retries": 0}),
                         "icmp": {"enabled": False}},
            "sites": sites, "links": links}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def env_for(communities: Mapping[str, str]) -> dict[str, str]:
    """The environment that resolves every device's credential."""
    return {env_var(d): c for d, c in communities.items()}


def snmpd_conf(communities: Mapping[str, str]) -> str:
    """Extra snmpd.conf lines accepting every canary community."""
    return "\n".join(f"rocommunity {c} 127.0.0.0/8" for c in communities.values())
