"""How long `borderwatch report` takes over a year of history for 10,000 devices.

    .venv/bin/python bench/report_year.py [--devices 10000] [--days 365] [--runs 3]
        [--workdir DIR] [--reuse]

Builds a synthetic network (4 devices per site: 2,500 sites for 10,000 devices; a tree of
hubs under one core with a second uplink for every fourth site, so there are rings and
single points alike; a mix of fibre, microwave and VSAT) and a year of its history written
through the history writer's real insert path (`HistoryWriter.submit`): every site and
link with about two outages a month (hub failures take the sites behind them down as
isolated), a collector gap of two hours a month, device intervals as the recorder writes
them, and the hourly roll-ups the writer keeps (90 days by default: utilisation for every
link, signal for every radio/VSAT link, power for every UPS). Then it times the whole
command in a fresh process (`borderwatch report --format json` and `--format html`, the
interpreter's start and imports included) `--runs` times and prints the medians, plus a
breakdown by phase measured in this process.

Nothing here passes or fails; bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from borderwatch.collector.inventory import load_inventory  # noqa: E402
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
    Retention,
)
from borderwatch.reports.build import ReportOptions, build_report  # noqa: E402
from borderwatch.reports.period import Period  # noqa: E402
from borderwatch.reports.render_files import to_json  # noqa: E402
from borderwatch.reports.render_html import render_html  # noqa: E402

H = 3600.0
DAY = 86400.0
T0 = 1_767_200_400.0  # 2026-01-01T00:00+07:00
DEVICES_PER_SITE = 4
SYNC_EVERY = 100_000  # ops between writer.sync(): the writer's queue is bounded (it drops)


def build_inventory(path: Path, devices: int, seed: int) -> dict:
    """A tree of hubs with rings; returns the topology the history generator needs."""
    rng = random.Random(seed)
    n_sites = max(2, devices // DEVICES_PER_SITE)
    sites: list[tuple[str, str, float, float]] = []
    links: list[tuple[str, str]] = []
    parents: dict[str, str] = {}
    hubs = ["core"]
    for i in range(n_sites):
        sid = "core" if i == 0 else f"s{i:05d}"
        kind = "core" if i == 0 else ("hub" if i % 10 == 1 else
                                       ("border_post", "border_gate", "commune")[i % 3])
        sites.append((sid, kind, 21.5 + rng.random(), 106.3 + rng.random()))
        if i:
            parent = rng.choice(hubs[-20:])
            parents[sid] = parent
            links.append((parent, sid))
            if kind == "hub":
                hubs.append(sid)
            if i % 4 == 0 and i > 4:  # a second uplink: rings
                other = rng.choice(sites[:-1])[0]
                if other != parent:
                    links.append((other, sid))
    ports: dict[str, list[str]] = {}  # device -> its interfaces, in use order

    def port(device: str) -> str:
        names = ports.setdefault(device, [])
        names.append(f"p{len(names) + 1}")
        return names[-1]

    media: dict[str, str] = {}
    link_lines = []
    for j, (a, b) in enumerate(links):
        lid = f"L{j:05d}"
        medium = ("fiber", "fiber", "microwave", "vsat")[j % 4]
        media[lid] = medium
        cap = {"fiber": 1000, "microwave": 300, "vsat": 2}[medium]
        link_lines.append(
            f"  - {{id: {lid}, medium: {medium}, capacity_mbps: {cap}, "
            f"a: {{site: {a}, device: {a}-d0, interface: {port(a + '-d0')}}}, "
            f"b: {{site: {b}, device: {b}-d1, interface: {port(b + '-d1')}}}}}")
    lines = ["schema_version: 1", "province: Bench", "credentials:",
             "  c: {version: 2c, community_env: BENCH_COMMUNITY}", "sites:"]
    roles = ("router", "switch", "microwave", "ups")
    addr = 0
    for i, (sid, kind, lat, lon) in enumerate(sites):
        lines += [f"  - id: {sid}", f"    name: Trạm {i}", f"    kind: {kind}",
                  f"    commune: xã {i // 40}", f"    lat: {lat:.4f}", f"    lon: {lon:.4f}",
                  "    devices:"]
        for k in range(DEVICES_PER_SITE):
            addr += 1
            dev = f"{sid}-d{k}"
            ip = f"127.{(addr >> 16) & 255}.{(addr >> 8) & 255}.{addr & 255}"
            ifaces = ", ".join(ports.get(dev, []))
            lines.append(f"      - {{id: {dev}, role: {roles[k]}, address: {ip}, "
                         f"port: {1024 + addr % 60000}, credential: c, "
                         f"interfaces: [{ifaces}]}}")
    lines += ["links:", *link_lines, "reports:",
              "  sla: {border_post: 99.5, border_gate: 99.5, commune: 99.0, hub: 99.8}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    children: dict[str, list[str]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    return {"sites": [s[0] for s in sites], "links": [f"L{j:05d}" for j in range(len(links))],
            "media": media, "children": children}


def write_history(path: Path, topo: dict, days: int, seed: int) -> int:
    """A year (or `days`) of history through the writer; returns the ops submitted."""
    rng = random.Random(seed)
    end = T0 + days * DAY
    retention = Retention()
    ops: list[tuple] = []  # (t, op): sorted before they are submitted, as a live run would
    for sid in topo["sites"]:
        ops.append((T0, (STATE, "site", sid, "up", None, T0)))
        for k in range(DEVICES_PER_SITE):
            ops.append((T0, (STATE, "device", f"{sid}-d{k}", "up", None, T0)))
        if sid == "core":
            continue
        for _ in range(rng.randint(days // 20, days // 10)):  # ~2 a month
            a = T0 + rng.random() * (days * DAY - 6 * H)
            b = a + rng.choice((300, 900, 1800, 3600, 4 * H))
            behind = topo["children"].get(sid, [])
            ops += [(a, (STATE, "site", sid, "down", f"site:{sid}", a)),
                    (a, (STATE, "device", f"{sid}-d0", "down", None, a)),
                    (b, (STATE, "site", sid, "up", None, b)),
                    (b, (STATE, "device", f"{sid}-d0", "up", None, b))]
            iid = f"i-{sid}-{int(a)}"
            ops += [(a, (INCIDENT_OPEN, iid, "down", (f"site:{sid}",), (sid, *behind), a)),
                    (b, (INCIDENT_CLOSE, iid, b))]
            for child in behind:
                ops += [(a, (STATE, "site", child, "isolated", f"site:{sid}", a)),
                        (b, (STATE, "site", child, "up", None, b))]
    for lid in topo["links"]:
        ops.append((T0, (STATE, "link", lid, "up", None, T0)))
        for _ in range(rng.randint(days // 20, days // 10)):
            a = T0 + rng.random() * (days * DAY - 2 * H)
            b = a + rng.choice((120, 600, 1800, 2 * H))
            ops += [(a, (STATE, "link", lid, "down", None, a)),
                    (b, (STATE, "link", lid, "up", None, b))]
    ops.sort(key=lambda x: x[0])

    rollup_from = end - retention.rollup_keep_days * DAY
    gaps = [(T0 + m * 30 * DAY + 10 * DAY, T0 + m * 30 * DAY + 10 * DAY + 2 * H)
            for m in range(int(days // 30))]
    runs, start = [], T0
    for a, b in gaps:
        runs.append((start, a))
        start = b
    runs.append((start, end))
    submitted = synced = 0
    i = 0
    for run_start, run_stop in runs:
        writer = HistoryWriter(path, retention=retention)
        writer.open(run_start)
        try:
            if run_start > T0:  # a new run re-observes everything at its start
                for sid in topo["sites"]:
                    writer.submit((STATE, "site", sid, "up", None, run_start))
                for lid in topo["links"]:
                    writer.submit((STATE, "link", lid, "up", None, run_start))
            hour = max(run_start, rollup_from) // H * H
            while (i < len(ops) and ops[i][0] < run_stop) or hour < run_stop:
                if i < len(ops) and ops[i][0] < run_stop and (ops[i][0] <= hour
                                                              or hour >= run_stop):
                    if ops[i][0] >= run_start:
                        writer.submit(ops[i][1])
                        submitted += 1
                    i += 1
                else:
                    for lid in topo["links"]:
                        u = rng.random() * (0.95 if topo["media"][lid] == "vsat" else 0.6)
                        writer.submit((LINK_HOUR, lid, hour, u * 0.6, min(1.0, u * 1.2), u))
                        if topo["media"][lid] != "fiber":
                            fade = rng.uniform(3, 30)
                            writer.submit((RADIO_HOUR, lid, hour, -70 + fade / 3, -62.0,
                                           -65.0, 18.0, fade))
                        submitted += 2
                    if rng.random() < 0.05:
                        sid = rng.choice(topo["sites"])
                        writer.submit((POWER_HOUR, f"{sid}-d3", sid, hour, 1200.0, 0.7))
                    writer.submit((BEAT, hour))
                    submitted += 2
                    hour += H
                if submitted - synced >= SYNC_EVERY:
                    writer.sync()
                    synced = submitted
            writer.sync()
        finally:
            writer.close(run_stop)
        if writer.stats.dropped:
            raise SystemExit(f"the writer dropped {writer.stats.dropped} ops: the bench "
                             "submitted faster than it syncs")
        print(f"  history: run up to {time.strftime('%Y-%m-%d', time.gmtime(run_stop))}, "
              f"{submitted:,} ops", file=sys.stderr)
    return submitted


SIZE_GROUPS = {  # table or index name prefix -> what it is part of
    "intervals": "intervals (with indexes)", "incidents": "incidents",
    "sqlite_autoindex_incidents": "incidents", "link_hours": "hourly roll-ups",
    "radio_hours": "hourly roll-ups", "power_hours": "hourly roll-ups",
    "link_days": "day roll-ups", "radio_days": "day roll-ups", "power_days": "day roll-ups"}


def sizes(path: Path) -> dict[str, float]:
    """Bytes per part of the file (SQLite's dbstat; empty if this SQLite lacks it)."""
    out: dict[str, float] = {}
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error:
        return out
    finally:
        conn.close()
    for name, size in rows:
        group = next((g for prefix, g in SIZE_GROUPS.items() if name.startswith(prefix)),
                     "other")
        out[group] = out.get(group, 0) + size
    return out


def time_command(args: list[str], runs: int) -> tuple[float, float]:
    """Medians of the wall time and of the CPU time (user + system) of `borderwatch report
    ARGS` in a fresh process. On a loaded machine the CPU time is the steadier figure."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "borderwatch.cli", "report", *args], check=True,
                       cwd=ROOT, stdin=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def phases(inventory: Path, history: Path, period: Period) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds per phase, in this process."""
    out = {}

    def timed(name: str, fn):
        t, c = time.perf_counter(), time.process_time()
        value = fn()
        out[name] = (time.perf_counter() - t, time.process_time() - c)
        return value

    inv = timed("load inventory", lambda: load_inventory(inventory, resolve_secrets=False))
    with HistoryReader.open([history]) as reader:
        options = ReportOptions(period=period, lang="en", history_files=(str(history),))
        doc = timed("read history, aggregate, plan", lambda: build_report(reader, inv, options))
    timed("render json", lambda: to_json(doc))
    timed("render html", lambda: render_html(doc))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per format (median)")
    ap.add_argument("--workdir", help="where the inventory and history go (default: a "
                    "temporary directory, removed)")
    ap.add_argument("--reuse", action="store_true", help="reuse the workdir's history")
    ap.add_argument("--seed", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bw-report-year-") as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        inventory, history = work / "inventory.yaml", work / "history.sqlite"
        topo = build_inventory(inventory, args.devices, args.seed)
        if not (args.reuse and history.exists()):
            history.unlink(missing_ok=True)
            t = time.perf_counter()
            ops = write_history(history, topo, args.days, args.seed)
            print(f"history written: {ops:,} ops in {time.perf_counter() - t:.0f} s, "
                  f"{history.stat().st_size / 2**20:.0f} MiB", file=sys.stderr)
        period = Period(T0, T0 + args.days * DAY)
        common = ["--from", period.label(period.start).replace(" ", "T"),
                  "--to", period.label(period.end).replace(" ", "T"),
                  "--inventory", str(inventory), "--history", str(history)]
        print(f"{args.devices:,} devices, {len(topo['sites']):,} sites, "
              f"{len(topo['links']):,} links, {args.days} days of history "
              f"({history.stat().st_size / 2**20:.0f} MiB)")
        rollup_days = min(args.days, Retention().rollup_keep_days)  # what the file keeps
        for group, size in sorted(sizes(history).items()):
            days = rollup_days if "roll-ups" in group else args.days
            print(f"  {group:26s} {size / 2**20:7.1f} MiB = {size / args.devices / days:6.1f} "
                  f"bytes per device per day ({days:.0f} days)")
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for name, (wall, cpu) in phases(inventory, history, period).items():
            print(f"  {name:32s} {wall:6.2f} s wall, {cpu:6.2f} s CPU")
        for fmt in ("json", "html"):
            wall, cpu = time_command([*common, "--format", fmt, "-o",
                                      str(work / f"r.{fmt}")], args.runs)
            print(f"borderwatch report --format {fmt}: median {wall:.2f} s wall, {cpu:.2f} s "
                  f"CPU of {args.runs} runs (whole command, fresh process)")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
