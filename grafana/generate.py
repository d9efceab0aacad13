"""`python -m borderwatch.grafana.generate [--check]`: write grafana/dashboards/ from the catalogs.

Prometheus dashboards (grafana/catalog.py) go to grafana/dashboards/*.json, the InfluxQL
ones (grafana/influx_catalog.py) to grafana/dashboards/influxql/*.json: a folder of their
own, so that tools reading the Prometheus set (`*.json`) see only PromQL. Grafana's file
provider reads sub-folders too; with foldersFromFilesStructure false all land in one
folder.

With --check nothing is written; exit 1 lists the files that differ from what the source
generates (CI and tests/grafana use it to catch hand edits and a stale generation).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from borderwatch.grafana import influx_catalog
from borderwatch.grafana.catalog import dashboards
from borderwatch.grafana.model import Dashboard
from borderwatch.grafana.render import render
from borderwatch.grafana.sites import INVENTORY, load_sites

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
INFLUXQL_DIR = "influxql"  # sub-folder of OUT_DIR for the InfluxQL dashboards


def file_name(dash: Dashboard) -> str:
    """Path of a dashboard's file relative to OUT_DIR (`site.json`, `influxql/site.json`)."""
    if dash.datasource == "influxql":
        return f"{INFLUXQL_DIR}/{dash.uid.removeprefix('bw-influxql-')}.json"
    return dash.uid.removeprefix("bw-") + ".json"


def generated(inventory: Path = INVENTORY) -> dict[str, str]:
    """{relative path: JSON text} of every dashboard, deterministic (sorted keys, newline)."""
    rows = load_sites(inventory)
    files = {}
    for dash in [*dashboards(rows),
                 *influx_catalog.dashboards(rows, influx_catalog.load_links(inventory))]:
        files[file_name(dash)] = json.dumps(render(dash), indent=2, ensure_ascii=False,
                                            sort_keys=True) + "\n"
    return files


def _existing(out_dir: Path) -> set[str]:
    return ({p.name for p in out_dir.glob("*.json")}
            | {f"{INFLUXQL_DIR}/{p.name}" for p in (out_dir / INFLUXQL_DIR).glob("*.json")})


def drift(out_dir: Path = OUT_DIR, inventory: Path = INVENTORY) -> list[str]:
    """Paths of files that are missing, different or not generated (empty when in sync)."""
    want = generated(inventory)
    have = _existing(out_dir)
    stale = [n for n, text in want.items()
             if not (out_dir / n).exists() or (out_dir / n).read_text() != text]
    return sorted(stale + sorted(have - set(want)))


def main(argv: list[str] | None = None) -> int:
    """Write (or --check) the dashboards; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m borderwatch.grafana.generate",
                                     description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files drifted")
    parser.add_argument("--inventory", type=Path, default=INVENTORY)
    args = parser.parse_args(argv)
    if args.check:
        stale = drift(OUT_DIR, args.inventory)
        for name in stale:
            print(f"grafana/dashboards/{name} is out of date: run `make dashboards`",
                  file=sys.stderr)
        return 1 if stale else 0
    (OUT_DIR / INFLUXQL_DIR).mkdir(parents=True, exist_ok=True)
    want = generated(args.inventory)
    for old in _existing(OUT_DIR):
        if old not in want:
            (OUT_DIR / old).unlink()
    for name, text in want.items():
        (OUT_DIR / name).write_text(text)
        print(f"wrote grafana/dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
