"""A month of history for the repository's inventory, through the real history writer:
what the browser test renders, the screenshots in docs/ and the README excerpt show.

Scripted (times in Vietnam time, November 2026):
* 04 Nov 09:00-13:30  fibre L27 cut: Thanh Lòa post isolated;
* 11 Nov 02:00-05:00  Đồng Đăng hub fails (mains and then its battery): the hub down, the
  sites behind it isolated; its UPS ran on battery for the first two hours;
* 18 Nov 15:00-15:40  rain fade on VSAT L33: Bình Xả post isolated;
* 25 Nov 10:00-12:00  the collector is stopped: everything unknown.
Hourly roll-ups for every link (the VSATs run hot), radio fade margins for radio links.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from pathlib import Path

from borderwatch.alerts.topology import Topology, single_points
from borderwatch.collector.inventory import load_inventory
from borderwatch.reports.period import VN_TZ

H = 3600.0


def vn(day: int, hour: float = 0.0) -> float:
    return datetime(2026, 11, day, tzinfo=VN_TZ).timestamp() + hour * H


START, END = vn(1), datetime(2026, 12, 1, tzinfo=VN_TZ).timestamp()
GAP = (vn(25, 10), vn(25, 12))


def _dependants(inventory, element: str) -> tuple[str, ...]:
    topo = Topology.from_inventory(inventory)
    return next(p.dependants for p in single_points(topo) if p.element == element)


def write_demo_month(inventory_path: Path, path: Path, seed: int = 10) -> Path:
    """Write the month to `path` (two collector runs around the gap)."""
    from borderwatch.history.writer import (
        INCIDENT_CLOSE,
        INCIDENT_OPEN,
        LINK_HOUR,
        POWER_HOUR,
        RADIO_HOUR,
        STATE,
        HistoryWriter,
    )

    inv = load_inventory(inventory_path, resolve_secrets=False)
    rng = random.Random(seed)
    behind_hub = _dependants(inv, "site:hub-dongdang")
    events = [  # (t, kind, element, state, cause)
        (vn(4, 9), "link", "L27", "down", None),
        (vn(4, 9), "site", "bp-thanhloa", "isolated", "link:L27"),
        (vn(4, 13.5), "link", "L27", "up", None),
        (vn(4, 13.5), "site", "bp-thanhloa", "up", None),
        (vn(11, 2), "site", "hub-dongdang", "down", "site:hub-dongdang"),
        *((vn(11, 2), "site", s, "isolated", "site:hub-dongdang") for s in behind_hub),
        (vn(11, 5), "site", "hub-dongdang", "up", None),
        *((vn(11, 5), "site", s, "up", None) for s in behind_hub),
        (vn(18, 15), "link", "L33", "down", None),
        (vn(18, 15), "site", "bp-binhxa", "isolated", "link:L33"),
        (vn(18, 15 + 40 / 60), "link", "L33", "up", None),
        (vn(18, 15 + 40 / 60), "site", "bp-binhxa", "up", None),
    ]
    incidents = [
        ("demo-1", "isolated", ("link:L27",), ("bp-thanhloa",), vn(4, 9), vn(4, 13.5)),
        ("demo-2", "down", ("site:hub-dongdang",), ("hub-dongdang", *behind_hub),
         vn(11, 2), vn(11, 5)),
        ("demo-3", "isolated", ("link:L33",), ("bp-binhxa",), vn(18, 15),
         vn(18, 15 + 40 / 60)),
    ]
    radio = [lk for lk in inv.links if lk.medium != "fiber"]
    for start, stop in ((START, GAP[0]), (GAP[1], END)):
        writer = HistoryWriter(path)
        writer.open(start)
        try:
            for site in inv.sites:
                writer.submit((STATE, "site", site.id, "up", None, start))
            for link in inv.links:
                writer.submit((STATE, "link", link.id, "up", None, start))
            for t, kind, element, state, cause in events:
                if start <= t < stop:
                    writer.submit((STATE, kind, element, state, cause, t))
            for iid, kind, root, sites, a, b in incidents:
                if start <= a < stop:
                    writer.submit((INCIDENT_OPEN, iid, kind, root, sites, a))
                    writer.submit((INCIDENT_CLOSE, iid, b))
            hour = start
            while hour < stop:
                busy = 0.75 + 0.25 * math.sin(2 * math.pi * ((hour / H + 7) % 24 - 14) / 24)
                for link in inv.links:
                    base = 0.85 if link.medium == "vsat" else 0.35
                    p95 = min(1.0, base * busy + rng.uniform(0, 0.1))
                    writer.submit((LINK_HOUR, link.id, hour, p95 * 0.6, min(1.0, p95 * 1.1),
                                   p95))
                for link in radio:
                    fade = 25.0 + rng.uniform(-3, 3)
                    if link.id == "L33" and vn(18, 14) <= hour < vn(18, 16):
                        fade = 1.5
                    writer.submit((RADIO_HOUR, link.id, hour, -65 + fade / 5, -60.0, -63.0,
                                   20.0, fade))
                hour += H
            if start <= vn(11, 2) < stop:
                writer.submit((POWER_HOUR, "dd-ups1", "hub-dongdang", vn(11, 2), 3600.0, 0.6))
                writer.submit((POWER_HOUR, "dd-ups1", "hub-dongdang", vn(11, 3), 3600.0, 0.08))
            writer.sync(120)
        finally:
            writer.close(stop)
    return path
