"""Fixtures for the alert tests: the example inventory's topology and rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from borderwatch.alerts.topology import Topology
from borderwatch.collector.inventory import Inventory, load_inventory

REPO_ROOT = Path(__file__).resolve().parents[2]

EXAMPLE_INVENTORY = REPO_ROOT / "inventory.yaml"


@pytest.fixture(scope="session")
def inventory() -> Inventory:
    """The repository's 38-site Lạng Sơn example (secrets not resolved)."""
    return load_inventory(EXAMPLE_INVENTORY, resolve_secrets=False, log_warnings=False)


@pytest.fixture(scope="session")
def topo(inventory: Inventory) -> Topology:
    """The example's topology."""
    return Topology.from_inventory(inventory)
