"""A year of embedded history for 10,000 devices, written through the history writer's own
insert path on a simulated clock, then read back the way a yearly report reads it.

    .venv/bin/python bench/history_year.py [--devices 10000] [--days 365]

Churn (what a provincial border network sees; seeded, so runs compare):
* each device has an outage with probability 2 % a day (about 7 a year), 5 min to 6 h;
* each site is cut off (isolated) with probability 1 % a day, each link down 2 % a day,
  with an incident per site outage;
* the collector restarts every 30 days (a minute of "not-polled-yet" for everything, so
  every element starts new intervals) and heartbeats every 60 s of simulated time;
* hourly roll-ups for the last `--rollup-days` (the retention, default 90): every link's
  utilisation, radio links' signal, every UPS / DC plant.

Reported: the file size and bytes per device per day (intervals + incidents, and the
roll-ups separately), write throughput, and the read: `HistoryReader.intervals` for
devices, links and sites over the whole year, incidents and a year of roll-ups (median of
`--repeat` runs). Results go to bench/results/history_year.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from borderwatch.history.reader import HistoryReader  # noqa: E402
from borderwatch.history.writer import (  # noqa: E402
    BEAT,
    INCIDENT_CLOSE,
    INCIDENT_OPEN,
    LINK_HOUR,
    POWER_HOUR,
    RADIO_HOUR,
    STATE,
    HistoryWriter,
)

DAY = 86400.0
HOUR = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RESULTS = ROOT / "bench" / "results" / "history_year.json"


def events(args: argparse.Namespace, rng: random.Random) -> list[tuple]:
    """Every state op of the year, in time order (outages drawn per element per day)."""
    devices = [f"d{i:05d}" for i in range(args.devices)]
    sites = [f"s{i:04d}" for i in range(args.sites)]
    links = [f"L{i:04d}" for i in range(args.links)]
    ops: list[tuple] = []
    days = int(args.days)

    def outages(kind: str, names: list[str], p: float, down: str) -> None:
        for name in names:
            for day in range(days):
                if rng.random() < p:
                    start = T0 + day * DAY + rng.uniform(0, DAY - 6 * HOUR)
                    end = start + rng.uniform(300, 6 * HOUR)
                    cause = f"link:{rng.choice(links)}" if kind == "site" else None
                    ops.append((start, (STATE, kind, name, down, cause, start)))
                    ops.append((end, (STATE, kind, name, "up", None, end)))
                    if kind == "site":
                        iid = f"isolated:{cause}@{start:.3f}"
                        ops.append((start, (INCIDENT_OPEN, iid, "isolated", (cause,), (name,),
                                            start)))
                        ops.append((end, (INCIDENT_CLOSE, iid, end)))

    outages("device", devices, 0.02, "down")
    outages("site", sites, 0.01, "isolated")
    outages("link", links, 0.02, "down")
    for day in range(0, days, 30):  # restarts: everything unknown for a minute, then up
        t = T0 + day * DAY
        for kind, names in (("device", devices), ("site", sites), ("link", links)):
            for name in names:
                ops.append((t, (STATE, kind, name, "unknown", "not-polled-yet", t)))
                ops.append((t + 60, (STATE, kind, name, "up", None, t + 60)))
    ops.sort(key=lambda op: op[0])
    return [op for _, op in ops]


def rollups(args: argparse.Namespace, rng: random.Random, hour: float) -> list[tuple]:
    """One hour of roll-up ops."""
    out: list[tuple] = []
    for i in range(args.links):
        u = rng.random() * 0.6
        out.append((LINK_HOUR, f"L{i:04d}", hour, u, min(1.0, u * 1.5), min(1.0, u * 1.4)))
    for i in range(args.radio_links):
        rsl = -55 - rng.random() * 10
        out.append((RADIO_HOUR, f"L{i:04d}", hour, rsl - 3, rsl, rsl - 2, 20.0, 8.0))
    for i in range(args.power):
        out.append((POWER_HOUR, f"d{i:05d}", f"s{i % args.sites:04d}", hour, 0.0, 1.0))
    return out


def write_year(path: Path, args: argparse.Namespace) -> dict:
    rng = random.Random(10)
    ops = events(args, rng)
    writer = HistoryWriter(path)
    writer.open(T0)
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    end = T0 + args.days * DAY
    rollup_from = end - args.rollup_days * DAY
    i = 0
    submitted = 0
    beat = T0
    while beat < end:
        beat += HOUR  # an hour at a time: its ops, its roll-ups, the beats
        while i < len(ops) and ops[i][-1] < beat:
            writer.submit(ops[i])
            i += 1
            submitted += 1
        if beat > rollup_from:
            for op in rollups(args, rng, beat - HOUR):
                writer.submit(op)
                submitted += 1
        for minute in range(60):
            writer.submit((BEAT, beat - HOUR + 60 * (minute + 1)))
        submitted += 60
        if writer.queue_length() > 50_000:  # keep well below the bound: nothing dropped
            writer.sync()
    writer.close(end)
    assert writer.stats.dropped == 0
    wall = time.perf_counter() - t_start
    return {"ops": submitted, "write_wall_s": wall,
            "caller_cpu_s": time.process_time() - cpu_start,
            "ops_per_s": submitted / wall, "state_ops": len(ops)}


def sizes(path: Path, args: argparse.Namespace) -> dict:
    import sqlite3

    conn = sqlite3.connect(path)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    per_table: dict[str, int] = {}
    try:
        for name, pages in conn.execute(
                "SELECT name, COUNT(*) FROM dbstat GROUP BY name"):
            per_table[name] = pages * page
    except sqlite3.OperationalError:  # SQLite built without dbstat
        pass
    rows = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("intervals", "incidents", "link_hours", "radio_hours", "power_hours")}
    conn.close()
    total = path.stat().st_size
    rollup_bytes = sum(v for k, v in per_table.items()
                       if k.startswith(("link_hours", "radio_hours", "power_hours")))
    states = total - rollup_bytes if per_table else None
    return {
        "file_bytes": total,
        "rows": rows,
        "bytes_by_table": per_table,
        "state_bytes": states,
        "rollup_bytes": rollup_bytes if per_table else None,
        "state_bytes_per_device_day": states / args.devices / args.days if states else None,
        "rollup_bytes_per_device_day": (rollup_bytes / args.devices / args.rollup_days
                                        if per_table else None),
    }


def read_year(path: Path, args: argparse.Namespace) -> dict:
    end = T0 + args.days * DAY
    times: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for _ in range(args.repeat):
        t = time.perf_counter()
        with HistoryReader.open([path]) as reader:
            for kind in ("device", "link", "site"):
                k0 = time.perf_counter()
                counts[kind] = len(reader.intervals(kind, T0, end))
                times.setdefault(f"intervals_{kind}_s", []).append(time.perf_counter() - k0)
            k0 = time.perf_counter()
            counts["incidents"] = len(reader.incidents(T0, end))
            counts["link_hours"] = len(reader.link_hours(T0, end))
            counts["radio_hours"] = len(reader.radio_hours(T0, end))
            counts["power_hours"] = len(reader.power_hours(T0, end))
            times.setdefault("incidents_and_rollups_s", []).append(time.perf_counter() - k0)
        times.setdefault("total_s", []).append(time.perf_counter() - t)
    return {"counts": counts, **{k: statistics.median(v) for k, v in times.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--sites", type=int, default=2_000)
    parser.add_argument("--links", type=int, default=2_400)
    parser.add_argument("--radio-links", type=int, default=600)
    parser.add_argument("--power", type=int, default=1_000, help="UPS / DC plants")
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--rollup-days", type=float, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="write the history here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bwhistory-") as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "history.sqlite"
        print(f"writing {args.days:g} days for {args.devices} devices ...", flush=True)
        write = write_year(path, args)
        print(f"  {write['ops']} ops in {write['write_wall_s']:.1f} s "
              f"({write['ops_per_s']:.0f}/s)", flush=True)
        size = sizes(path, args)
        read = read_year(path, args)
    load = os.getloadavg()
    lines = [
        f"== history: {args.days:g} days, {args.devices} devices, {args.sites} sites, "
        f"{args.links} links ({args.radio_links} radio), {args.power} power plants ==",
        f"file {size['file_bytes'] / 1e6:.1f} MB; rows {size['rows']}",
    ]
    if size["state_bytes_per_device_day"] is not None:
        lines.append(
            f"intervals + incidents: {size['state_bytes'] / 1e6:.1f} MB = "
            f"{size['state_bytes_per_device_day']:.1f} bytes per device per day; roll-ups "
            f"({args.rollup_days:g} days): {size['rollup_bytes'] / 1e6:.1f} MB = "
            f"{size['rollup_bytes_per_device_day']:.0f} bytes per device per day")
    lines += [
        f"write: {write['ops']} ops in {write['write_wall_s']:.1f} s wall "
        f"({write['ops_per_s']:.0f} ops/s through the writer thread)",
        f"read a year (median of {args.repeat}): intervals devices "
        f"{read['intervals_device_s']:.2f} s ({read['counts']['device']} intervals), links "
        f"{read['intervals_link_s']:.2f} s, sites {read['intervals_site_s']:.2f} s; incidents "
        f"+ roll-ups {read['incidents_and_rollups_s']:.2f} s; total {read['total_s']:.2f} s "
        f"[issue 10 target for a whole report <= 10 s]",
        f"machine load average (2 cores, shared): {load[0]:.1f}",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "write": write, "size": size,
                                   "read": read, "load": load, "report": text},
                                  indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
