"""The README's inventory example must stay valid: people copy it first."""

from __future__ import annotations

import re
from pathlib import Path

from collector.inventory import load_inventory

README = Path(__file__).resolve().parents[1] / "README.md"


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_inventory_example_is_valid(tmp_path: Path) -> None:
    blocks = _yaml_blocks()
    assert blocks, "README.md has no yaml example"
    path = tmp_path / "inventory.yaml"
    path.write_text(blocks[0], encoding="utf-8")
    secret = tmp_path / "v3-priv"
    secret.write_text("privpass123\n", encoding="utf-8")
    secret.chmod(0o600)
    text = path.read_text(encoding="utf-8").replace("/run/secrets/v3-priv", str(secret))
    path.write_text(text, encoding="utf-8")
    env = {"BORDERWATCH_COMMUNITY": "public", "BORDERWATCH_V3_AUTH": "authpass123"}
    inventory = load_inventory(path, env=env)
    assert [d.id for d in inventory.devices] == ["dd-agg2", "bptl-sw1"]
    assert [link.id for link in inventory.links] == ["L27"]


def test_readme_alerts_example_is_valid(tmp_path: Path) -> None:
    """The `alerts:` example (every receiver kind) loads on top of the inventory example."""
    blocks = _yaml_blocks()
    (alerts,) = [b for b in blocks if b.startswith("alerts:")]
    secret = tmp_path / "v3-priv"
    secret.write_text("privpass123\n", encoding="utf-8")
    secret.chmod(0o600)
    path = tmp_path / "inventory.yaml"
    path.write_text(blocks[0].replace("/run/secrets/v3-priv", str(secret)) + "\n" + alerts,
                    encoding="utf-8")
    env = {"BORDERWATCH_COMMUNITY": "public", "BORDERWATCH_V3_AUTH": "authpass123"}
    inventory = load_inventory(path, env=env)
    assert inventory.alerts is not None
    receivers = [r.name for r in (*inventory.alerts.webhooks, *inventory.alerts.email,
                                  *inventory.alerts.telegram)]
    assert receivers == ["noc", "truc-ban", "nhom-truc"]
    assert inventory.alerts.alertmanager is not None
