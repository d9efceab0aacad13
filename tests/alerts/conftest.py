"""Fixtures for the alert tests: the example inventory's topology and rules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The editable install maps only collector/exporters/lab (pyproject's packages.find);
# until `alerts*` is added there, make the new top-level package importable from the tree.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from alerts.topology import Topology  # noqa: E402
from collector.inventory import Inventory, load_inventory  # noqa: E402

EXAMPLE_INVENTORY = REPO_ROOT / "inventory.yaml"


@pytest.fixture(scope="session")
def inventory() -> Inventory:
    """The repository's 38-site Lạng Sơn example (secrets not resolved)."""
    return load_inventory(EXAMPLE_INVENTORY, resolve_secrets=False, log_warnings=False)


@pytest.fixture(scope="session")
def topo(inventory: Inventory) -> Topology:
    """The example's topology."""
    return Topology.from_inventory(inventory)
