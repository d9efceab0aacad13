"""What `borderwatch poll DEVICE` prints: a table for people, or JSON for scripts.

Both show only what the poll produced (metric names, labels, values, timing, problems):
PollResult never holds a credential, so neither output can leak one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from typing import Any, TextIO

from borderwatch.collector.device_strings import escape_controls
from borderwatch.collector.samples import PollResult, Sample
from borderwatch.collector.text_columns import ELLIPSIS, Column, fit
from borderwatch.collector.topology_spec import DeviceSpec

# The interface table: one line per interface, a column per IF-MIB metric (declarative:
# metric -> column). borderwatch_interface_up is STATUS "up", so it is not repeated.
# Metrics with an ifIndex label that are not here (a radio's RSL) stay in the sample table.
IFACE_KEY = ("ifIndex", "ifName", "ifDescr", "ifAlias")
OPER = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
        7: "lowerLayerDown"}
ADMIN = {1: "up", 2: "down", 3: "testing"}
IFACE_METRICS = {
    "borderwatch_interface_up": None,
    "borderwatch_interface_oper_status": "oper",
    "borderwatch_interface_admin_status": "admin",
    "borderwatch_interface_speed_bytes": "speed",
    "borderwatch_interface_receive_bytes_total": "rx_bytes",
    "borderwatch_interface_transmit_bytes_total": "tx_bytes",
    "borderwatch_interface_receive_errors_total": "rx_errors",
    "borderwatch_interface_transmit_errors_total": "tx_errors",
    "borderwatch_interface_receive_discards_total": "rx_discards",
    "borderwatch_interface_transmit_discards_total": "tx_discards",
    "borderwatch_interface_discontinuity_time_seconds": "discontinuity",
}
# To fit a terminal: the alias is cut first, then the description, the name last of all;
# if that is not enough, the columns least needed when debugging a site are left out.
IFACE_COLUMNS = (
    Column("IFINDEX", right=True), Column("IFNAME", shrink=3, min_width=12), Column("STATUS"),
    Column("SPEED", right=True), Column("RX_BYTES", right=True),
    Column("TX_BYTES", right=True), Column("ERRORS_RX/TX", right=True, drop=4),
    Column("DISCARDS_RX/TX", right=True, drop=2), Column("DISCONT_S", right=True, drop=1),
    Column("DESCR", shrink=2, min_width=12, drop=3),
    Column("ALIAS", shrink=1, min_width=16, drop=5),
)
SAMPLE_COLUMNS = (Column("METRIC"), Column("VALUE", right=True),
                  Column("LABELS", shrink=1, min_width=20))
MISSING = "-"


def table_width(wide: bool, stdout: TextIO) -> int | None:
    """How many columns the table may take: None (no limit) with --wide; else $COLUMNS if
    set (through a pipe too: how `watch` or a test asks for a width); else the terminal's
    width, or None when the output is not a terminal (a pipe or file has no width: `| grep`
    gets full values)."""
    if wide:
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if not stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def _labels_text(sample: Sample) -> str:
    # Labels are clean already (collector.device_strings); escaping again keeps the
    # table one line per sample even for a Sample built some other way.
    return escape_controls(",".join(f'{k}="{v}"' for k, v in sample.labels))


def _value_text(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _speed_text(bytes_per_second: float) -> str:
    bits = bytes_per_second * 8
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if bits >= scale:
            return f"{bits / scale:g}{unit}"
    return f"{bits:g}"


def _sorted(result: PollResult) -> list[Sample]:
    return sorted(result.samples, key=lambda s: (s.metric, s.labels))


def _index_key(labels: dict[str, str]) -> tuple[int, str]:
    index = labels.get("ifIndex", "")
    return (int(index), "") if index.isdigit() else (1 << 62, index)


def _interface_rows(samples: list[Sample]) -> tuple[list[list[str]], list[Sample]]:
    """One row per interface (IFACE_COLUMNS), and the samples that are not in them."""
    by_iface: dict[tuple[str, ...], dict[str, float | int]] = {}
    rest = []
    for s in samples:
        labels = dict(s.labels)
        if s.metric not in IFACE_METRICS or "ifIndex" not in labels:
            rest.append(s)
            continue
        values = by_iface.setdefault(tuple(labels.get(k, "") for k in IFACE_KEY), {})
        if (field := IFACE_METRICS[s.metric]) is not None:
            values[field] = s.value

    def num(values: dict[str, float | int], field: str) -> str:
        return _value_text(values[field]) if field in values else MISSING

    def pair(values: dict[str, float | int], rx: str, tx: str) -> str:
        return f"{num(values, rx)}/{num(values, tx)}"

    rows = []
    for key in sorted(by_iface, key=lambda k: _index_key(dict(zip(IFACE_KEY, k, strict=True)))):
        index, name, descr, alias = (escape_controls(k) for k in key)
        v = by_iface[key]
        admin, oper = v.get("admin"), v.get("oper")
        if admin is not None and admin != 1:  # admin down: oper is down by definition
            status = "admin " + ADMIN.get(int(admin), str(admin))
        else:
            status = OPER.get(int(oper), str(oper)) if oper is not None else MISSING
        speed = _speed_text(v["speed"]) if "speed" in v else MISSING
        rows.append([index, name, status, speed, num(v, "rx_bytes"), num(v, "tx_bytes"),
                     pair(v, "rx_errors", "tx_errors"), pair(v, "rx_discards", "tx_discards"),
                     num(v, "discontinuity"), descr or MISSING, alias or MISSING])
    return rows, rest


def _without_empty_columns(columns: tuple[Column, ...], rows: list[list[str]]
                           ) -> tuple[list[Column], list[list[str]]]:
    """Columns the device answered for at least one interface (no agent sends all)."""
    keep = [i for i in range(len(columns))
            if any(r[i] not in (MISSING, f"{MISSING}/{MISSING}") for r in rows)]
    return [columns[i] for i in keep], [[r[i] for i in keep] for r in rows]


def render_table(spec: DeviceSpec, result: PollResult, width: int | None = None) -> str:
    """A header with the poll facts, one line per interface, then one line per other sample.

    One line per interface and per sample whatever the device's strings hold: no control
    character reaches the terminal (a CR LF in ifAlias would split a row, an ESC recolour
    the screen), and widths are display widths (a CJK ifAlias takes two columns a
    character). `width` None shows every value in full (`--wide`, or not a terminal);
    otherwise the alias, description, labels and at last the name are cut to fit, each
    ending in "…", and a last line says so.
    """
    status = "ok" if result.ok else f"FAILED: {result.error}"
    head = [
        f"device   {spec.device_id} (site {spec.site_id}) at {spec.address}",
        f"result   {status}",
        f"profile  {result.profile or '-'}",
        f"took     {result.duration:.3f} s, {result.requests} request(s), "
        f"{result.varbinds} varbind(s), {len(result.samples)} sample(s)",
    ]
    head += [f"problem  {p}" for p in result.problems]
    lines = [escape_controls(line) for line in head]  # an error may quote the device
    iface_rows, rest = _interface_rows(_sorted(result))
    was_cut, left_out = False, []
    if iface_rows:
        columns, iface_rows = _without_empty_columns(IFACE_COLUMNS, iface_rows)
        table = fit(columns, iface_rows, width)
        lines += ["", *table.lines]
        was_cut, left_out = table.cut, table.left_out
    if rest:
        rows = [[s.metric, _value_text(s.value), _labels_text(s)] for s in rest]
        table = fit(SAMPLE_COLUMNS, rows, width)
        lines += ["", *table.lines]
        was_cut = was_cut or table.cut
    if was_cut or left_out:  # short lines: the note must fit the width it talks about
        lines += ["", f"fitted to {width} columns (--wide shows everything):"]
        lines += [f"  cells ending in {ELLIPSIS} are cut"] if was_cut else []
        lines += [f"  left out: {', '.join(left_out)}"] if left_out else []
    return "\n".join(lines)


def poll_json(spec: DeviceSpec, result: PollResult) -> dict[str, Any]:
    """The poll as a JSON-ready dict (stable keys; samples sorted by metric and labels)."""
    return {
        "device": spec.device_id,
        "site": spec.site_id,
        "address": spec.address,
        "ok": result.ok,
        "error": result.error,
        "started": result.started,
        "duration_seconds": round(result.duration, 6),
        "profile": result.profile,
        "requests": result.requests,
        "varbinds": result.varbinds,
        "sys_uptime_ticks": result.sys_uptime_ticks,
        "problems": list(result.problems),
        "problem_kinds": dict(result.problem_kinds),  # empty: the poll read everything
        "samples": [
            {"metric": s.metric, "labels": dict(s.labels), "value": s.value,
             "type": s.kind.value, **({"bits": s.counter_bits} if s.counter_bits else {})}
            for s in _sorted(result)
        ],
    }


def render_json(spec: DeviceSpec, result: PollResult) -> str:
    """poll_json() as indented JSON (NaN/inf become null so any JSON parser accepts it)."""
    data = poll_json(spec, result)
    for s in data["samples"]:
        if isinstance(s["value"], float) and not math.isfinite(s["value"]):
            s["value"] = None
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
