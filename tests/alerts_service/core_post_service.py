"""An AlertService on a two-site inventory (core — post), driven by hand: nothing is polled.

The service start-up tests and the silence API tests need the same thing: a real
AlertService with its engine, state file and outbox under the test's directory, and the
NetworkState it reads, into which the test records PollResults itself on a clock it moves.
The devices point at ports 9 and 7 of 127.0.0.1 (discard, echo): never polled here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from alert_network import ENV

from borderwatch.alerts.service_hook import AlertService
from borderwatch.collector.inventory import Inventory, load_inventory
from borderwatch.collector.state import NetworkState
from borderwatch.service import device_spec, link_specs

INVENTORY: dict[str, Any] = {
    "schema_version": 1,
    "credentials": {"lab": {"version": "2c", "community_env": "BW_ALERTS_COMMUNITY"}},
    "sites": [
        {"id": "core", "name": "Trung tâm", "kind": "core",
         "devices": [{"id": "core-sw", "address": "127.0.0.1", "port": 9, "credential": "lab",
                      "interfaces": ["eth0"]}]},
        {"id": "post", "name": "Đồn Biên phòng Thanh Lòa", "kind": "border_post",
         "devices": [{"id": "post-sw", "address": "127.0.0.1", "port": 7, "credential": "lab",
                      "interfaces": ["eth0"]}]}],
    "links": [{"id": "L1", "medium": "fiber", "capacity_mbps": 100,
               "a": {"site": "core", "device": "core-sw", "interface": "eth0"},
               "b": {"site": "post", "device": "post-sw", "interface": "eth0"}}],
}


def write_inventory(tmp: Path, alerts: dict[str, Any]) -> Path:
    """tmp/inventory.yaml: INVENTORY with this `alerts:` section."""
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump({**INVENTORY, "alerts": alerts}, allow_unicode=True))
    return path


def alert_service(tmp: Path, clock: Callable[[], float],
                  ) -> tuple[AlertService, NetworkState, Inventory]:
    """The AlertService of tmp/inventory.yaml (base_dir tmp), its NetworkState, the inventory.

    Loading and start-up errors (InventoryError, AlertsConfigError) propagate to the test.
    """
    inv = load_inventory(tmp / "inventory.yaml", env=ENV)
    state = NetworkState([device_spec(inv.effective(d)) for d in inv.devices],
                         link_specs(inv))
    return AlertService(inv, state, base_dir=tmp, clock=clock), state, inv
