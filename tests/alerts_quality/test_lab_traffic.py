"""The lab's traffic against the built-in link-utilisation rule, for the whole example
inventory (81 devices): every link end's octet rates, as the lab's data files make them,
stay below the rule's clear level, so a quiet lab never pages for utilisation. The quality
suite checks the same on live polls of its small network (the quiet run)."""

from __future__ import annotations

from pathlib import Path

from borderwatch.alerts.rules import default_rules
from borderwatch.collector.inventory import load_inventory
from borderwatch.lab.devices import agent_specs
from borderwatch.lab.dumps import (
    IF_HC_IN_OCTETS,
    IF_HC_OUT_OCTETS,
    IF_IN_OCTETS,
    IF_OUT_OCTETS,
    build_records,
)
from borderwatch.lab.faults import _settings, interface_indexes

REPO = Path(__file__).resolve().parents[2]


def _rate_bps(records: dict, index: tuple[int, ...], columns: tuple) -> float | None:
    for col in columns:
        rec = records.get(col + index)
        if rec is not None and rec.tag.endswith(":numeric"):
            return float(_settings(rec).get("rate", "0")) * 8
    return None


def test_lab_link_traffic_stays_below_the_utilisation_rules_clear_level() -> None:
    rule = next(r for r in default_rules().rules if r.kind == "link_utilization")
    assert rule.clear_at is not None
    inventory = load_inventory(REPO / "inventory.yaml",
                               env={"BORDERWATCH_LAB_COMMUNITY": "lab-traffic-check"})
    specs = {s.device_id: s for s in agent_specs(inventory)[0]}
    worst: dict[str, float] = {}
    for link in inventory.links:
        capacities = [m * 1e6 for m in (link.capacity_mbps, link.capacity_up_mbps) if m]
        for end in (link.a, link.b):
            spec = specs.get(end.device)
            if spec is None:
                continue
            records = {r.oid: r for r in build_records(spec.sim_profile, spec.device_id,
                                                       spec.link_capacity)}
            (index, *_) = interface_indexes(records, end.interface)
            for columns in ((IF_HC_IN_OCTETS, IF_IN_OCTETS), (IF_HC_OUT_OCTETS, IF_OUT_OCTETS)):
                rate = _rate_bps(records, index, columns)
                assert rate is not None, (link.id, end.device, end.interface)
                worst[link.id] = max(worst.get(link.id, 0.0), rate / min(capacities))
    assert len(worst) == len(inventory.links)
    assert max(worst.values()) < rule.clear_at, sorted(worst.items(), key=lambda kv: -kv[1])[:5]
    print(f"\nhighest lab link utilisation: {max(worst.values()):.0%} "
          f"(rule fires above {rule.threshold:.0%}, clears at {rule.clear_at:.0%})")
