"""`capacity_risks` (on the maximum spanning tree, fast enough for thousands of sites) gives
exactly what its definition gives: one widest-path pass per removed link."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from borderwatch.alerts.topology import (
    SiteInfo,
    Topology,
    _capacity_risks_by_removal,
    capacity_risks,
)
from borderwatch.collector.inventory import load_inventory
from borderwatch.collector.topology_spec import LinkSpec

REPO = Path(__file__).resolve().parents[2]
CAPS = (2e6, 100e6, 200e6, 400e6, 1e9, 1e9, 10e9, None)  # None: no capacity (unlimited)


def test_repository_inventory() -> None:
    topo = Topology.from_inventory(load_inventory(REPO / "inventory.yaml",
                                                  resolve_secrets=False))
    assert capacity_risks(topo) == _capacity_risks_by_removal(topo)
    assert capacity_risks(topo)  # Đình Lập's VSAT backup at least: the comparison has teeth


def random_topology(seed: int) -> Topology:
    rng = random.Random(seed)
    n = rng.randint(3, 40)
    cores = rng.randint(1, 2)
    sites = [SiteInfo(f"s{i}", f"S{i}", "core" if i < cores else "hub") for i in range(n)]
    links, k = [], 0
    for i in range(1, n):  # a tree, then extra links: rings, parallels, long shortcuts
        for j in [rng.randrange(i)] + [rng.randrange(n) for _ in range(rng.choice((0, 0, 1)))]:
            if j == i:
                continue
            k += 1
            links.append(LinkSpec(f"L{k}", f"s{i}", f"d{i}", f"p{k}", f"s{j}", f"d{j}",
                                  f"q{k}", "fiber", rng.choice(CAPS)))
    if rng.random() < 0.5:
        links.append(LinkSpec("Lpar", links[0].a_site, "x", "x1", links[0].b_site, "y", "y1",
                              "vsat", rng.choice(CAPS)))
    return Topology(sites, links)


@pytest.mark.parametrize("seed", range(60))
def test_random_networks(seed: int) -> None:
    topo = random_topology(seed)
    for ratio in (0.1, 0.5, 1.0):
        assert capacity_risks(topo, ratio) == _capacity_risks_by_removal(topo, ratio)
