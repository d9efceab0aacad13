"""`diff_inventories`: what a hot reload changes, on the repository's inventory (81 devices)
edited one way per case."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from inventory_helpers import EXAMPLE, LAB_ENV, write

from borderwatch.collector.inventory import load_inventory
from borderwatch.collector.inventory.diff import diff_inventories

BASE = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _linked(data: dict[str, Any]) -> set[str]:
    return {end["device"] for link in data["links"] for end in (link["a"], link["b"])}


def _unlinked(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(site, device) of the first device that no link names."""
    linked = _linked(data)
    return next((s, d) for s in data["sites"] for d in s["devices"] if d["id"] not in linked)


def _device(data: dict[str, Any], device_id: str) -> dict[str, Any]:
    return next(d for s in data["sites"] for d in s["devices"] if d["id"] == device_id)


def _first(data: dict[str, Any]) -> str:
    return data["sites"][0]["devices"][0]["id"]


def port(data: dict[str, Any]) -> None:
    _device(data, _first(data))["port"] = 1161


def remove(data: dict[str, Any]) -> None:
    site, dev = _unlinked(data)
    site["devices"].remove(dev)


def rename(data: dict[str, Any]) -> None:
    _, dev = _unlinked(data)
    dev["id"] += "-new"


def site_name(data: dict[str, Any]) -> None:
    data["sites"][0]["name"] += " (mới)"


def max_in_flight(data: dict[str, Any]) -> None:
    data.setdefault("defaults", {})["max_in_flight"] = 7


def icmp_interval(data: dict[str, Any]) -> None:
    data.setdefault("defaults", {}).setdefault("icmp", {})["interval"] = 10


def icmp_off(data: dict[str, Any]) -> None:
    data.setdefault("defaults", {}).setdefault("icmp", {})["enabled"] = False


CASES: list[tuple[str, Callable[[dict[str, Any]], None], dict[str, Any]]] = [
    ("nothing", lambda data: None, {}),
    ("port", port, {"changed": "first"}),
    ("remove", remove, {"removed": "unlinked"}),
    ("rename", rename, {"removed": "unlinked", "added": "unlinked-new", "topology": True}),
    ("site-name", site_name, {"topology": True}),
    ("max-in-flight", max_in_flight, {"restart": ("defaults.max_in_flight",)}),
    # the pinger's cadence needs a restart; which devices it pings follows the reload
    ("icmp-interval", icmp_interval, {"restart": ("defaults.icmp",)}),
    ("icmp-off", icmp_off, {}),
]


@pytest.mark.parametrize(("edit", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_diff(tmp_path: Path, edit: Callable[[dict[str, Any]], None],
              expected: dict[str, Any]) -> None:
    old = load_inventory(write(tmp_path, EXAMPLE.read_text(encoding="utf-8"), "old.yaml"),
                         env=LAB_ENV)
    data = copy.deepcopy(BASE)
    edit(data)
    new = load_inventory(write(tmp_path, yaml.safe_dump(data, allow_unicode=True), "new.yaml"),
                         env=LAB_ENV)
    diff = diff_inventories(old, new)
    names = {"first": _first(BASE), "unlinked": _unlinked(BASE)[1]["id"],
             "unlinked-new": _unlinked(BASE)[1]["id"] + "-new"}
    want = {k: tuple(names[v] for v in [expected[k]]) if k in expected else ()
            for k in ("added", "removed", "changed")}
    assert (diff.added, diff.removed, diff.changed) == \
        (want["added"], want["removed"], want["changed"])
    assert diff.topology_changed == (expected.get("topology", False) or bool(diff.removed))
    assert diff.restart_needed == expected.get("restart", ())
    assert len(diff.unchanged) == len(old.devices) - len(diff.removed) - len(diff.changed)


def test_a_rotated_secret_changes_every_device_that_uses_it(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE.read_text(encoding="utf-8"))
    old = load_inventory(path, env=LAB_ENV)
    new = load_inventory(path, env={k: v + "-rotated" for k, v in LAB_ENV.items()})
    diff = diff_inventories(old, new)
    assert set(diff.changed) == {d.id for d in old.devices}  # one lab community for all
    assert not diff.topology_changed and "rotated" not in diff.summary()
