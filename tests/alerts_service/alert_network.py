"""A three-site network on one real snmpd: core — hub — post, each device behind its own
UDP fault proxy (T2), so a test can make the hub's agent unreachable (blackhole) while
the core's answers, as a failed hub node or its power would."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fakes.udp_proxy import UdpProxy

ENV = {"BW_ALERTS_COMMUNITY": "public"}  # the test bed snmpd's community (protects nothing)
DEVICES = {"core-sw": "core", "hub-sw": "hub", "post-sw": "post"}
# fast polls and short pending/clear times, so a test runs in seconds
FAST_RULES = """\
schema_version: 1
include_defaults: true
rules:
  - name: SiteIsolated
    kind: site_isolated
    severity: critical
    for: 0s
    clear_for: 2s
  - name: SiteDown
    kind: site_down
    severity: critical
    for: 2s
    clear_for: 2s
"""


@dataclass
class Network:
    """The proxies by device id and the inventory written for them."""

    proxies: dict[str, UdpProxy]
    inventory: Path

    def cut(self, device_id: str, cut: bool = True) -> None:
        """Make a device's agent unreachable (both directions dropped), or reachable again."""
        proxy = self.proxies[device_id]
        proxy.to_agent.blackhole = cut
        proxy.to_client.blackhole = cut

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()


async def build(tmp: Path, snmpd_port: int, alerts: dict[str, Any]) -> Network:
    """Start the proxies and write the inventory (with the given `alerts:` section)."""
    proxies = {d: await UdpProxy.start(("127.0.0.1", snmpd_port), seed=i)
               for i, d in enumerate(DEVICES)}
    (tmp / "rules.yaml").write_text(FAST_RULES)
    sites = []
    for site_id, kind, name in (("core", "core", "Trung tâm Lạng Sơn"),
                                ("hub", "hub", "Nút truyền dẫn Đồng Đăng"),
                                ("post", "border_post", "Đồn Biên phòng Thanh Lòa")):
        devs = [{"id": d, "address": "127.0.0.1", "port": proxies[d].endpoint[1],
                 "credential": "lab", "role": "switch", "profile": ["system", "if-mib"],
                 "interfaces": ["eth0", "lo"]}
                for d, s in DEVICES.items() if s == site_id]
        sites.append({"id": site_id, "name": name, "kind": kind, "devices": devs})
    data = {
        "schema_version": 1,
        "credentials": {"lab": {"version": "2c", "community_env": "BW_ALERTS_COMMUNITY"}},
        # not pinged: a blackholed proxy silences the agent, but 127.0.0.1 still answers
        # ping, and a failed node must look like one (tests/icmp covers ping)
        "defaults": {"interval": 1, "timeout": 0.3, "retries": 0, "icmp": {"enabled": False}},
        "sites": sites,
        "links": [
            {"id": "L1", "medium": "fiber", "capacity_mbps": 1000,
             "a": {"site": "core", "device": "core-sw", "interface": "eth0"},
             "b": {"site": "hub", "device": "hub-sw", "interface": "lo"}},
            {"id": "L2", "medium": "fiber", "capacity_mbps": 1000,
             "a": {"site": "hub", "device": "hub-sw", "interface": "eth0"},
             "b": {"site": "post", "device": "post-sw", "interface": "lo"}},
        ],
        "alerts": {"rules": "rules.yaml", "state_dir": "state", "tick": 0.5,
                   "retry_initial": 0.2, "retry_max": 1.0, **alerts},
    }
    inventory = tmp / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return Network(proxies, inventory)
