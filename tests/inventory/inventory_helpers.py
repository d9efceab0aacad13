"""Small helpers shared by the inventory tests (write YAML, load it, list its problems)."""

from __future__ import annotations

from pathlib import Path

from borderwatch.collector.inventory import InventoryError, load_inventory

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventory.yaml"
LAB_ENV = {"BORDERWATCH_LAB_COMMUNITY": "cnry-COMM-7f3a9c"}


def write(tmp_path: Path, text: str, name: str = "inv.yaml", mode: int = 0o600) -> Path:
    """Write an inventory file (0600 by default, so no permission warning)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def problems(path: Path, env: dict[str, str] | None = None, **kwargs) -> list[tuple]:
    """(line, field, message) of every error of the file; [] when it loads."""
    try:
        load_inventory(path, env=env if env is not None else {}, **kwargs)
    except InventoryError as exc:
        return [(p.line, p.field, p.message) for p in exc.problems]
    return []
