"""The inventory's `traps` section: its defaults (an unprivileged port) and the exact
messages of its errors."""

from __future__ import annotations

import re
from pathlib import Path

from inventory_helpers import problems, write

from borderwatch.collector.inventory import load_inventory

HEAD = "schema_version: 1\ntraps:\n"


def test_defaults_listen_on_an_unprivileged_port(tmp_path: Path) -> None:
    traps = load_inventory(write(tmp_path, HEAD + "  {}\n"), env={}).traps
    assert traps is not None
    assert (traps.listen, traps.rate_per_source, traps.burst, traps.queue, traps.engine_id) \
        == ("0.0.0.0:1162", 20.0, 50, 1000, None)


def test_no_section_means_no_receiver(tmp_path: Path) -> None:
    assert load_inventory(write(tmp_path, "schema_version: 1\n"), env={}).traps is None


def test_bad_values_name_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "  listen: localhost:162\n  burst: 0\n"
                                  "  engine_id: xyz\n  extra: 1\n")
    assert problems(path) == [
        (3, "traps.listen", "'localhost:162' is not 'ADDRESS:PORT' with an IP address and a "
                            "port 0..65535, e.g. 0.0.0.0:1162"),
        (4, "traps.burst", "0 is out of range; must be ≥ 1 and ≤ 100000"),
        (5, "traps.engine_id", "'xyz' is not an engine ID: 5 to 32 bytes in hex, e.g. "
                               "80007ed90501020304"),
        (6, "traps.extra", "unknown key 'extra'; allowed keys: listen, engine_id, "
                           "rate_per_source, burst, queue"),
    ]


def test_engine_id_in_hex_with_or_without_0x(tmp_path: Path) -> None:
    for text in ("'0x80007ED90501020304'", "80007ed90501020304"):
        path = write(tmp_path, HEAD + f"  engine_id: {text}\n")
        traps = load_inventory(path, env={}).traps
        assert traps is not None and traps.engine_id == "80007ed90501020304"
    path = write(tmp_path, HEAD + "  engine_id: 0x80007ED90501020304\n")
    assert problems(path) == [(3, "traps.engine_id", "put the engine ID in quotes: YAML read "
                                                     "it as the number 2361218945897403122436")]


def test_readme_traps_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)
                if b.startswith("traps:")]
    traps = load_inventory(write(tmp_path, "schema_version: 1\n" + block), env={}).traps
    assert traps is not None and traps.listen == "0.0.0.0:1162" and traps.queue == 1000
