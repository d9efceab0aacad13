"""`python -m grafana.generate [--check]`: write grafana/dashboards/*.json from grafana/catalog.py.

With --check nothing is written; exit 1 lists the files that differ from what the source
generates (CI and tests/grafana use it to catch hand edits and a stale generation).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana.catalog import dashboards
from grafana.render import render
from grafana.sites import INVENTORY, load_sites

OUT_DIR = Path(__file__).resolve().parent / "dashboards"


def generated(inventory: Path = INVENTORY) -> dict[str, str]:
    """{file name: JSON text} of every dashboard, deterministic (sorted keys, final newline)."""
    files = {}
    for dash in dashboards(load_sites(inventory)):
        name = dash.uid.removeprefix("bw-") + ".json"
        files[name] = json.dumps(render(dash), indent=2, ensure_ascii=False,
                                 sort_keys=True) + "\n"
    return files


def drift(out_dir: Path = OUT_DIR, inventory: Path = INVENTORY) -> list[str]:
    """Names of files that are missing, different or not generated (empty when in sync)."""
    want = generated(inventory)
    have = {p.name for p in out_dir.glob("*.json")}
    stale = [n for n, text in want.items()
             if not (out_dir / n).exists() or (out_dir / n).read_text() != text]
    return sorted(stale + sorted(have - set(want)))


def main(argv: list[str] | None = None) -> int:
    """Write (or --check) the dashboards; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m grafana.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files drifted")
    parser.add_argument("--inventory", type=Path, default=INVENTORY)
    args = parser.parse_args(argv)
    if args.check:
        stale = drift(OUT_DIR, args.inventory)
        for name in stale:
            print(f"grafana/dashboards/{name} is out of date: run `make dashboards`",
                  file=sys.stderr)
        return 1 if stale else 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    want = generated(args.inventory)
    for old in OUT_DIR.glob("*.json"):
        if old.name not in want:
            old.unlink()
    for name, text in want.items():
        (OUT_DIR / name).write_text(text)
        print(f"wrote grafana/dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
