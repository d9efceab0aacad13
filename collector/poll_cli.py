"""What `borderwatch poll DEVICE` prints: a table for people, or JSON for scripts.

Both show only what the poll produced (metric names, labels, values, timing, problems):
PollResult never holds a credential, so neither output can leak one.
"""

from __future__ import annotations

import json
import math
from typing import Any

from collector.device_strings import escape_controls
from collector.samples import PollResult, Sample
from collector.topology_spec import DeviceSpec

MAX_LABEL_WIDTH = 70  # a long ifAlias would otherwise push values off the screen


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


def _sorted(result: PollResult) -> list[Sample]:
    return sorted(result.samples, key=lambda s: (s.metric, s.labels))


def render_table(spec: DeviceSpec, result: PollResult) -> str:
    """A header with the poll facts, then one row per sample: metric, labels, value.

    One line per sample whatever the device's strings hold: no control character reaches
    the terminal (a CR LF in sysDescr would split a row, an ESC recolour the screen).
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
    head = [escape_controls(line) for line in head]  # an error may quote the device
    samples = _sorted(result)
    if not samples:
        return "\n".join(head)
    rows = [(s.metric, _labels_text(s), _value_text(s.value)) for s in samples]
    w_metric = max(len("METRIC"), *(len(r[0]) for r in rows))
    w_labels = min(MAX_LABEL_WIDTH, max(len("LABELS"), *(len(r[1]) for r in rows)))
    lines = ["", f"{'METRIC':<{w_metric}}  {'LABELS':<{w_labels}}  VALUE"]
    for metric, labels, value in rows:
        if len(labels) > w_labels:
            labels = labels[: w_labels - 1] + "…"
        lines.append(f"{metric:<{w_metric}}  {labels:<{w_labels}}  {value}")
    return "\n".join(head + lines)


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
