"""Histories for the report tests, written through the real history writer, and running
`borderwatch report` as a real process (exit code, stderr, no traceback).

`small_world` is a hand-made day on a four-site network whose every second is known
in advance (see EXPECTED): a hub failure that cuts off the post behind it, a link cut,
a site not polled yet at the start, and the collector stopped for an hour.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from borderwatch.history.schema import create_or_open
from borderwatch.reports.period import VN_TZ

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, tzinfo=VN_TZ).timestamp()
H = 3600.0
DAY_END = T0 + 24 * H

INVENTORY = """\
schema_version: 1
province: Lạng Sơn
credentials:
  c: {version: 2c, community_env: BW_TEST_COMMUNITY}
sites:
  - {id: core, name: Trung tâm tỉnh, name_en: Provincial core, kind: core,
     commune: phường Đông Kinh, lat: 21.853, lon: 106.761,
     devices: [{id: core-r1, address: 127.0.0.1, credential: c, interfaces: [e1, e2]}]}
  - {id: hub-a, name: Nút Đồng Đăng, name_en: Dong Dang node, kind: hub,
     commune: xã Đồng Đăng, lat: 21.938, lon: 106.705,
     devices: [{id: hub-a-sw, address: 127.0.0.2, credential: c, interfaces: [e1, e2, e3]},
               {id: hub-a-ups, role: ups, address: 127.0.0.5, credential: c}]}
  - {id: bp-x, name: Đồn Biên phòng Thanh Lòa, name_en: Thanh Loa border post,
     kind: border_post, commune: xã Đồng Đăng, lat: 21.985, lon: 106.800,
     devices: [{id: bp-x-sw, address: 127.0.0.3, credential: c, interfaces: [e1]}]}
  - {id: cm-y, name: UBND xã Bảo Lâm, name_en: Bao Lam commune office, kind: commune,
     commune: xã Bảo Lâm, lat: 21.970, lon: 106.760,
     devices: [{id: cm-y-sw, address: 127.0.0.4, credential: c, interfaces: [e1, e2]}]}
links:
  - {id: L1, medium: fiber, capacity_mbps: 1000,
     a: {site: core, device: core-r1, interface: e1},
     b: {site: hub-a, device: hub-a-sw, interface: e1}}
  - {id: L2, medium: microwave, capacity_mbps: 200,
     a: {site: hub-a, device: hub-a-sw, interface: e2},
     b: {site: bp-x, device: bp-x-sw, interface: e1}}
  - {id: L3, medium: fiber, capacity_mbps: 1000,
     a: {site: core, device: core-r1, interface: e2},
     b: {site: cm-y, device: cm-y-sw, interface: e1}}
  - {id: L4, medium: vsat, capacity_mbps: 2,
     a: {site: hub-a, device: hub-a-sw, interface: e3},
     b: {site: cm-y, device: cm-y-sw, interface: e2}}
reports:
  sla: {border_post: 99.5, hub: 99.8, commune: 99.0}
"""

# (kind, element, state, cause, t) in time order; the collector runs [T0, T0+10h) and
# [T0+11h, T0+24h): the hour between is a collector gap (unknown) for everyone.
RUNS = (
    (T0, T0 + 10 * H, [
        ("site", "core", "up", None, T0), ("site", "hub-a", "up", None, T0),
        ("site", "bp-x", "up", None, T0),
        ("site", "cm-y", "unknown", "not-polled-yet", T0), ("site", "cm-y", "up", None, T0 + 600),
        ("link", "L1", "up", None, T0), ("link", "L2", "up", None, T0),
        ("link", "L3", "up", None, T0), ("link", "L4", "up", None, T0),
        # 02:00-03:00 the hub fails (its own fault) and cuts off the post behind it
        ("site", "hub-a", "down", "site:hub-a", T0 + 2 * H),
        ("site", "bp-x", "isolated", "site:hub-a", T0 + 2 * H),
        ("site", "hub-a", "up", None, T0 + 3 * H), ("site", "bp-x", "up", None, T0 + 3 * H),
        # 05:00-05:30 the microwave hop to the post fades out
        ("link", "L2", "down", None, T0 + 5 * H),
        ("site", "bp-x", "isolated", "link:L2", T0 + 5 * H),
        ("link", "L2", "up", None, T0 + 5.5 * H), ("site", "bp-x", "up", None, T0 + 5.5 * H),
    ]),
    (T0 + 11 * H, DAY_END, [
        ("site", "core", "up", None, T0 + 11 * H), ("site", "hub-a", "up", None, T0 + 11 * H),
        ("site", "bp-x", "up", None, T0 + 11 * H), ("site", "cm-y", "up", None, T0 + 11 * H),
        ("link", "L1", "up", None, T0 + 11 * H), ("link", "L2", "up", None, T0 + 11 * H),
        ("link", "L3", "up", None, T0 + 11 * H), ("link", "L4", "up", None, T0 + 11 * H),
    ]),
)
INCIDENTS = (  # (id, kind, root, sites, start, end)
    ("inc-1", "isolated", ("site:hub-a",), ("hub-a", "bp-x"), T0 + 2 * H, T0 + 3 * H),
    ("inc-2", "isolated", ("link:L2",), ("bp-x",), T0 + 5 * H, T0 + 5.5 * H),
)

# Seconds per site over [T0, T0+24h): worked out by hand from RUNS.
EXPECTED = {
    "core": {"up": 23 * H, "down": 0.0, "isolated": 0.0, "unknown": H},
    "hub-a": {"up": 22 * H, "down": H, "isolated": 0.0, "unknown": H},
    "bp-x": {"up": 24 * H - 1.5 * H - H, "down": 0.0, "isolated": 1.5 * H, "unknown": H},
    "cm-y": {"up": 24 * H - 600 - H, "down": 0.0, "isolated": 0.0, "unknown": 600 + H},
}


def write_inventory(path: Path) -> Path:
    """The four-site inventory of the small world."""
    path.write_text(INVENTORY, encoding="utf-8")
    path.chmod(0o600)
    return path


def small_world(path: Path) -> Path:
    """The hand-made day, through the real writer (two runs with a gap between them)."""
    from borderwatch.history.writer import (
        INCIDENT_CLOSE,
        INCIDENT_OPEN,
        LINK_HOUR,
        POWER_HOUR,
        RADIO_HOUR,
        STATE,
        HistoryWriter,
    )

    for run_no, (start, stop, changes) in enumerate(RUNS):
        writer = HistoryWriter(path)
        writer.open(start)
        try:
            for kind, element, state, cause, t in changes:
                writer.submit((STATE, kind, element, state, cause, t))
            if run_no == 0:
                for iid, kind, root, sites, a, b in INCIDENTS:
                    writer.submit((INCIDENT_OPEN, iid, kind, root, sites, a))
                    writer.submit((INCIDENT_CLOSE, iid, b))
                for hour in range(10):
                    t = T0 + hour * H
                    writer.submit((LINK_HOUR, "L1", t, 0.30, 0.50, 0.40))
                    writer.submit((LINK_HOUR, "L4", t, 0.70, 1.00, 0.95))  # the VSAT runs hot
                    writer.submit((RADIO_HOUR, "L2", t, -62.0, -58.0, -61.0, 21.0,
                                   4.5 if hour == 5 else 12.0))
                writer.submit((POWER_HOUR, "hub-a-ups", "hub-a", T0 + 2 * H, 1800.0, 0.55))
            writer.sync(30)
        finally:
            writer.close(stop)
    return path


def empty_history(path: Path) -> Path:
    """A history file as the writer creates it, before any collector run."""
    create_or_open(path).close()
    return path


def run_report(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`borderwatch report ARGS` in a real process."""
    return subprocess.run([sys.executable, "-m", "borderwatch.cli", "report", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          stdin=subprocess.DEVNULL, check=False)
