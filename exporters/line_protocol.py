"""PollResults as InfluxDB line protocol: the measurement/tag/field design, in one place.

Design (documented in docs/influx.md):

* A metric `borderwatch_<group>_<rest>` becomes measurement `<group>` and field `<rest>`
  without a trailing `_total` (`borderwatch_interface_receive_bytes_total` →
  `interface` / `receive_bytes`). Samples of one poll with the same measurement and the
  same labels share one line (one point), so an interface row is one point.
* Tags: `site`, `device` (inventory ids) plus the sample's labels (`ifIndex`, `ifName`...).
  A profile label named `site` or `device` becomes `exported_site` / `exported_device`, as
  in the Prometheus exporter. Empty label values are left out (InfluxDB has no empty tags).
* Escaping as the line protocol reference says, plus the replacements that make every
  string read back the same from InfluxDB 1.x, 2.x and VictoriaMetrics (line breaks →
  spaces, ambiguous backslashes → U+FF3C; see _AMBIGUOUS_BACKSLASH and docs/influx.md).
* Field types never depend on the value, only on the metric, so a field never changes
  type (InfluxDB refuses that): counters are unsigned integers (`123u`, exact up to
  2^64 - 1: a Counter64 near 2^63 is not rounded, A27), gauges are floats, per-poll counts
  of the `device` measurement are integers (`12i`).
* Counters are the raw device counters as polled (as snmpget shows them; Counter32 wraps
  at 2^32): use `non_negative_derivative()` (InfluxQL) or `derivative(nonNegative: true)`
  (Flux).
* Every poll also writes `device,site=…,device=… up=1,poll_duration_seconds=…,varbinds=…i,
  requests=…i`, failed polls included (up=0 and no other measurement).
* Timestamps (issue 11), in milliseconds: a point is stamped with the wall time at
  which the answer carrying its counters arrived (`line_times`), so that InfluxDB's
  derivative divides by the time between the answers, not between poll starts (a column
  read after a retry arrives seconds later). Wall time = the poll's wall start + steady
  time since then (`PollResult.wall_time`): one reading of the wall clock per poll, so a
  clock step mid-poll cannot tear one poll's points apart, and a step between polls moves
  the next poll as a whole, as it moves every other wall time. A counter whose answer
  arrived more than SAME_POINT_MS from its row's point gets a point of its own (same
  tags, its own time); gauges join their row's point; the `device` line keeps the
  poll's start.
* Every ping round (collector/icmp) writes `icmp,site=…,device=… up=…,rtt_seconds=…,
  rtt_average_seconds=…,rtt_jitter_seconds=…,loss_ratio=…,echo_requests=…u,
  echo_replies=…u` (RTT fields left out while no reply is in the window), at the round's
  start.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from borderwatch.collector.icmp.stats import IcmpRound, IcmpSnapshot
from borderwatch.collector.samples import Kind, PollResult

PREFIX = "borderwatch_"
MAX_U64 = 2**64 - 1
RESERVED_TAGS = ("site", "device")  # ours; a profile label with one of these names is renamed
# Counters of one row whose answers arrived within this many ms share one point (the
# first one's time). Columns walked side by side, or one after another on a slow agent,
# answer within a few to some tens of ms, and that offset hardly changes from one poll to
# the next, so it cancels in a derivative; a retry moves a column by its timeout (seconds)
# and gets a point of its own. At worst a derivative is bent by 2 x this over the
# interval (0.3 % at 60 s); a smaller value splits rows of slow agents into many points.
SAME_POINT_MS = 100

_MEASUREMENT_ESCAPE = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPE = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING_ESCAPE = str.maketrans({"\\": "\\\\", '"': '\\"'})
# Line protocol has no escape for line breaks: a newline would end the point.
_CONTROL = str.maketrans({"\n": " ", "\r": " ", "\t": " "})
# A backslash that touches a separator, a quote, another backslash or the end of the
# element: InfluxDB 1.x keeps `\\` as two backslashes and cannot store a backslash
# before an escaped separator or at the end at all, while InfluxDB 2.x and
# VictoriaMetrics read `\\` as one: no escape reads back the same everywhere. Such a
# backslash is written as U+FF3C FULLWIDTH REVERSE SOLIDUS, which every server stores as
# it is; a backslash before any other character is a plain character everywhere.
_AMBIGUOUS_BACKSLASH = re.compile(r'\\(?=[\\,= "]|$)')
BACKSLASH_STAND_IN = "\uff3c"
FIELD_QUOTE_STAND_IN = "\uff02"


@dataclass(frozen=True, slots=True)
class Encoded:
    """One poll as line protocol: `lines` (no trailing newline each) and their time span."""

    lines: list[bytes]
    ts_ms: int  # the earliest timestamp of the lines
    max_ts_ms: int = 0  # the latest, if later (lines are stamped per answer: line_times)

    @property
    def points(self) -> int:
        """Points (lines) in this poll."""
        return len(self.lines)


@lru_cache(maxsize=4096)
def _escaped_field(metric: str) -> tuple[str, str]:
    measurement, field = measurement_field(metric)
    return measurement, escape_field_key(field)


@lru_cache(maxsize=4096)
def measurement_field(metric: str) -> tuple[str, str]:
    """(measurement, field) of a metric name: `borderwatch_interface_up` → (interface, up)."""
    name = metric.removeprefix(PREFIX)
    group, sep, rest = name.partition("_")
    if not sep or not rest:  # not of our shape: keep it whole in a catch-all measurement
        return "borderwatch", name
    rest = rest.removesuffix("_total") or rest
    return group, rest


def _plain(text: str) -> str:
    """Line breaks and tabs as spaces, ambiguous backslashes as their stand-in."""
    return _AMBIGUOUS_BACKSLASH.sub(BACKSLASH_STAND_IN, text.translate(_CONTROL))


def escape_measurement(name: str) -> str:
    """A measurement name as line protocol wants it (commas and spaces escaped)."""
    return _plain(name).translate(_MEASUREMENT_ESCAPE)


def escape_key(name: str) -> str:
    """A tag key, tag value or field key as line protocol wants it (commas, equals signs
    and spaces escaped; see _AMBIGUOUS_BACKSLASH for backslashes)."""
    return _plain(name).translate(_KEY_ESCAPE)


def escape_field_key(name: str) -> str:
    """A field key: as escape_key, and a double quote as U+FF02 (VictoriaMetrics reads a
    quote in a field key as the start of a string value and stores garbage)."""
    return escape_key(name.replace('"', FIELD_QUOTE_STAND_IN))


def escape_string(value: str) -> str:
    """A string field value, quotes included (backslashes and double quotes escaped)."""
    return '"' + value.translate(_CONTROL).translate(_STRING_ESCAPE) + '"'


def stored_as(text: str, *, field_key: bool = False) -> str:
    """What a measurement, tag key, tag value (or, with field_key, a field key) reads back
    as from the server: the documented replacements, nothing else."""
    return _plain(text.replace('"', FIELD_QUOTE_STAND_IN) if field_key else text)


def format_float(value: float) -> str | None:
    """A float field value (shortest exact repr), None for NaN/±Inf (line protocol has none)."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return repr(value)


def format_unsigned(value: float | int) -> str | None:
    """An unsigned-integer field value (`123u`), None if it is not a whole number in range."""
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if not 0 <= value <= MAX_U64:
        return None
    return f"{value}u"


@lru_cache(maxsize=65536)  # the same rows come back every poll; bounded
def tag_set(site_id: str, device_id: str, labels: tuple[tuple[str, str], ...]) -> str:
    """`,k=v` pairs sorted by key (what InfluxDB recommends), empty values left out."""
    tags = {"site": site_id, "device": device_id}
    for name, value in labels:
        key = f"exported_{name}" if name in RESERVED_TAGS else name
        if value != "":
            tags[key] = value
    return "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items())
                   if v != "")


def timestamp_ms(started: float) -> int:
    """A wall time (a poll's start, an answer's arrival) in whole milliseconds."""
    return round(started * 1000)


def line_times(result: PollResult) -> list[int]:
    """The timestamp (ms) of the point each of `result.samples` goes into.

    A counter: its answer's wall time, unless another counter of the same measurement and
    labels arrived within SAME_POINT_MS, whose point it joins. A gauge: the time of its
    row's first point (its own when the row has no counter; the `device` line's, the poll's
start, for the device measurement without labels). Unstamped: the poll's start.
    """
    samples = result.samples
    start_ms = round(result.started * 1000)
    wall_time = result.wall_time
    out = [start_ms] * len(samples)
    # the `device` line (poll bookkeeping) is at the poll's start; its gauges join it
    anchors: dict[tuple[str, tuple[tuple[str, str], ...]], list[int]] = {
        ("device", ()): [start_ms]}
    gauges = []
    for i, sample in enumerate(samples):
        if sample.kind is not Kind.COUNTER:
            gauges.append(i)
            continue
        ts = round(wall_time(sample.t) * 1000)
        key = (measurement_field(sample.metric)[0], sample.labels)
        points = anchors.get(key)
        if points is None:
            anchors[key] = [ts]
        else:
            for anchor in points:
                if abs(anchor - ts) <= SAME_POINT_MS:
                    ts = anchor
                    break
            else:
                points.append(ts)
        out[i] = ts
    for i in gauges:
        sample = samples[i]
        key = (measurement_field(sample.metric)[0], sample.labels)
        points = anchors.get(key)
        if points is None:
            anchors[key] = points = [round(wall_time(sample.t) * 1000)]
        out[i] = points[0]
    return out


def encode_result(result: PollResult, site_id: str) -> Encoded:
    """All lines of one poll: its `device` line first, then one line per (measurement, labels).

    Values that cannot be written (NaN, a counter outside 0..2^64-1) are left out; a line
    whose every value was left out is not written.
    """
    ts = timestamp_ms(result.started)
    device_tags = tag_set(site_id, result.device_id, ())
    # (measurement, labels, ms) → [field=value, ...], in first-seen order (stable across
    # polls)
    groups: dict[tuple[str, tuple[tuple[str, str], ...], int], list[str]] = {}
    device_fields = [f"up={1.0 if result.ok else 0.0!r}",
                     # microseconds are all the precision a poll's duration has
                     f"poll_duration_seconds={format_float(round(result.duration, 6)) or '0.0'}",
                     f"varbinds={int(result.varbinds)}i", f"requests={int(result.requests)}i"]
    groups[("device", (), ts)] = device_fields
    for sample, at in zip(result.samples, line_times(result), strict=True):
        measurement, field = _escaped_field(sample.metric)
        if sample.kind is Kind.COUNTER:
            text = format_unsigned(sample.value)
        else:
            text = format_float(sample.value)
        if text is None:
            continue
        key = (measurement, sample.labels, at)
        fields = groups.get(key)
        if fields is None:
            fields = groups[key] = []
        fields.append(f"{field}={text}")
    lines = []
    first = last = ts
    for (measurement, labels, at), fields in groups.items():
        if not fields:
            continue
        tags = device_tags if not labels else tag_set(site_id, result.device_id, labels)
        lines.append(f"{escape_measurement(measurement)}{tags} {','.join(fields)} {at}"
                     .encode())
        first, last = min(first, at), max(last, at)
    return Encoded(lines, first, last)


def encode_icmp(r: IcmpRound, snap: IcmpSnapshot, site_id: str) -> Encoded:
    """One ping round as one `icmp` point (fields as the borderwatch_icmp_* families)."""
    ts = timestamp_ms(r.started_wall)
    values = (("rtt_seconds", snap.rtt_last), ("rtt_average_seconds", snap.rtt_average),
              ("rtt_jitter_seconds", snap.rtt_jitter), ("loss_ratio", snap.loss_ratio))
    fields = [f"up={1.0 if snap.up else 0.0!r}"]
    fields += [f"{k}={text}" for k, v in values
               if v is not None and (text := format_float(v)) is not None]
    fields += [f"echo_requests={format_unsigned(snap.sent_total)}",
               f"echo_replies={format_unsigned(snap.received_total)}"]
    line = f"icmp{tag_set(site_id, r.device_id, ())} {','.join(fields)} {ts}"
    return Encoded([line.encode()], ts, ts)
